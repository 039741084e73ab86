//! `/device`: the page a device's verification URI opens. A person checks the code their
//! terminal or editor shows, signs in and approves (or denies) it in one form — no cookie, so
//! there is no session for another site to ride on. Every answer is HTML that loads nothing.

use axum::response::Html;

use super::device::decide;
use super::users::authenticate;
use super::*;

pub(super) fn routes(router: axum::Router<Arc<AppState>>) -> axum::Router<Arc<AppState>> {
    router.route("/device", axum::routing::get(page).post(submit))
}

#[derive(serde::Deserialize)]
struct Prefill {
    #[serde(default)]
    user_code: String,
}

#[derive(serde::Deserialize)]
struct Submitted {
    #[serde(default)]
    user_code: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    /// `approve` or `deny`.
    #[serde(default)]
    decision: String,
}

async fn page(axum::extract::Query(prefill): axum::extract::Query<Prefill>) -> Response {
    render(StatusCode::OK, &form(&prefill.user_code, "", None))
}

async fn submit(
    State(state): State<Arc<AppState>>,
    from: ClientAddr,
    axum::extract::Form(sent): axum::extract::Form<Submitted>,
) -> Response {
    let approve = sent.decision != "deny";
    let outcome = async {
        let user = authenticate(&state, from, &sent.email, sent.password).await?;
        decide(&state, &user, &sent.user_code, approve).await?;
        Ok::<_, ApiError>(user)
    }
    .await;
    match outcome {
        Ok(user) if approve => render(
            StatusCode::OK,
            &format!(
                "<h1>Device signed in</h1><p>The device with code <code>{}</code> is now signed in as {}. You can close this page.</p>",
                escape(&sent.user_code),
                escape(&user.email)
            ),
        ),
        Ok(_) => render(
            StatusCode::OK,
            "<h1>Sign-in denied</h1><p>The device was refused. You can close this page.</p>",
        ),
        Err(err) => {
            let problem = match err.code {
                "not_found" => "That code is unknown, expired or already used: start the sign-in again on the device.".to_string(),
                _ => err.message.clone(),
            };
            render(
                err.status,
                &form(&sent.user_code, &sent.email, Some(&problem)),
            )
        }
    }
}

fn form(user_code: &str, email: &str, problem: Option<&str>) -> String {
    let problem = problem.map_or(String::new(), |p| {
        format!("<p class=\"problem\" role=\"alert\">{}</p>", escape(p))
    });
    format!(
        r#"<h1>Sign in a device</h1>
<p>Check that this code is the one your terminal, editor or desktop app shows.</p>
{problem}<form method="post" action="/device">
<label>Code <input name="user_code" value="{}" autocomplete="off" spellcheck="false" required></label>
<label>Email <input name="email" type="email" value="{}" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<div><button name="decision" value="approve">Approve</button> <button name="decision" value="deny">Deny</button></div>
</form>"#,
        escape(user_code),
        escape(email)
    )
}

fn render(status: StatusCode, body: &str) -> Response {
    let page = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Scry — sign in a device</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#222}}
label{{display:block;margin:.8rem 0}}input{{display:block;width:100%;padding:.4rem;font:inherit;box-sizing:border-box}}
button{{padding:.4rem 1.2rem;font:inherit}}code{{font-size:1.2em}}.problem{{color:#a00}}</style>
</head><body><main>{body}</main></body></html>"#
    );
    let headers = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    (status, headers, Html(page)).into_response()
}

/// Text for HTML: element content and quoted attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_cannot_break_out_of_the_page() {
        assert_eq!(
            super::escape(r#""><script>alert('x')</script>&"#),
            "&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;"
        );
    }
}
