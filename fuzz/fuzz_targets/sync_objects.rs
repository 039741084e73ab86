//! A downloaded sync object's plaintext (after it opened under the org's key: a member who
//! holds the key can write any bytes there): every object decoder answers or refuses.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = scry_client::sync::plan::read_any_object(data);
});
