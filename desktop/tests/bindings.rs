//! The page's TypeScript types are generated from the Rust ones: this fails when the checked-in
//! `ui/bindings/*.ts` differ from what the Rust definitions make (run with `SCRY_BLESS=1` to
//! write them, then commit).

use std::path::Path;

use scry_desktop::commands::account::{AccountStatus, DeviceStart, OrgView, SignInEvent};
use scry_desktop::commands::data_key::{DataKeyView, DeviceView, RecoveryKeyView};
use scry_desktop::commands::keys::{KeyCreatedView, KeyView};
use scry_desktop::commands::orgs::{InvitationSent, InvitationView, MemberView};
use scry_desktop::commands::sync::{
    Excluded, LedgerRow, RepoView, SyncEvent, SyncPreview, SyncProgress, SyncView,
};
use scry_desktop::commands::usage::{AuditPage, AuditView, DayView, PlanView, QuotaBar};
use scry_desktop::commands::workspaces::{AlsoHit, SearchHit, WorkspaceProgress, WorkspaceView};
use scry_desktop::error::CommandError;
use scry_desktop::settings::Settings;
use ts_rs::{Config, TS};

fn generated<T: TS + 'static>() -> (String, String) {
    let name = T::output_path().expect("derived types have a path");
    let text = T::export_to_string(&Config::new()).expect("the type exports");
    (name.display().to_string(), text)
}

#[test]
fn the_page_types_match_the_rust_ones() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/bindings");
    let all = [
        generated::<AccountStatus>(),
        generated::<CommandError>(),
        generated::<DeviceStart>(),
        generated::<OrgView>(),
        generated::<SearchHit>(),
        generated::<AlsoHit>(),
        generated::<SignInEvent>(),
        generated::<WorkspaceProgress>(),
        generated::<WorkspaceView>(),
        generated::<KeyCreatedView>(),
        generated::<KeyView>(),
        generated::<InvitationSent>(),
        generated::<InvitationView>(),
        generated::<MemberView>(),
        generated::<Excluded>(),
        generated::<LedgerRow>(),
        generated::<RepoView>(),
        generated::<SyncEvent>(),
        generated::<SyncPreview>(),
        generated::<SyncProgress>(),
        generated::<SyncView>(),
        generated::<AuditPage>(),
        generated::<AuditView>(),
        generated::<DayView>(),
        generated::<PlanView>(),
        generated::<QuotaBar>(),
        generated::<Settings>(),
        generated::<DataKeyView>(),
        generated::<DeviceView>(),
        generated::<RecoveryKeyView>(),
    ];
    let bless = std::env::var_os("SCRY_BLESS").is_some();
    let mut stale = Vec::new();
    for (name, text) in &all {
        let path = dir.join(name);
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(name.clone());
        }
    }
    let kept: Vec<String> = std::fs::read_dir(&dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let unknown: Vec<&String> = kept
        .iter()
        .filter(|k| !all.iter().any(|(n, _)| n == *k))
        .collect();
    assert!(
        stale.is_empty() && unknown.is_empty(),
        "ui/bindings is out of date (stale {stale:?}, not generated {unknown:?}): run \
         SCRY_BLESS=1 cargo test -p scry-desktop --test bindings and commit"
    );
}
