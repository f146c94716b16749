//! The rules page (`GET /rules`): the active version, its rules by domain with each
//! condition in words where it is a threshold comparison (the Rhai text otherwise),
//! what each recommends, the thresholds (params) with their descriptions, and the
//! stored versions with who activated them, when and how. A counselor changes the
//! thresholds in a form whose "Preview" goes to [`super::publish`]; each version links
//! its own page (diff, rollback for admins).

use actix_web::{HttpResponse, web};
use askama::Template;

use super::caseload::domain_label;
use super::error::ConsoleError;
use super::layout::Layout;
use super::session::ConsoleUser;
use super::words::condition_words;
use crate::http::AppState;
use crate::rules::Domain;

/// One rule as shown.
struct RuleView {
    id: String,
    name: String,
    /// "tier N", or "strength".
    tier: String,
    /// The condition in words, or `None` (then `when` is shown as code).
    words: Option<String>,
    when: String,
    recommend: String,
    enabled: bool,
}

/// The rules of one domain.
struct DomainView {
    label: &'static str,
    rules: Vec<RuleView>,
}

struct ParamView {
    name: String,
    value: String,
    description: String,
}

struct VersionView {
    version: String,
    active: bool,
    activations: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/rules.html")]
struct RulesPage {
    layout: Layout,
    version: String,
    domains: Vec<DomainView>,
    params: Vec<ParamView>,
    versions: Vec<VersionView>,
    /// The user may preview a threshold change.
    can_edit: bool,
    /// The files of the active set, for the editor.
    files: Vec<String>,
}

/// `GET /rules`.
pub async fn page(
    user: ConsoleUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    user.require("GET", "/v1/rules")?;
    let rules = state.registry.active();
    let domains = Domain::ALL
        .iter()
        .map(|d| DomainView {
            label: domain_label(*d),
            rules: rules
                .rules
                .iter()
                .filter(|r| r.domain == *d)
                .map(|r| RuleView {
                    id: r.id.clone(),
                    name: r.name.clone(),
                    tier: if r.kind == crate::rules::RuleKind::Strength {
                        "strength".into()
                    } else {
                        r.tier.to_string()
                    },
                    words: condition_words(r, &rules),
                    when: r.when.clone(),
                    recommend: r.recommend.join(", "),
                    enabled: r.enabled,
                })
                .collect(),
        })
        .collect();
    let params = rules
        .params
        .iter()
        .map(|(name, p)| ParamView {
            name: name.clone(),
            value: p.value.to_string(),
            description: p.description.clone(),
        })
        .collect();
    let versions = if user.may("GET", "/v1/rules/versions") {
        crate::app::publish::versions(&state)
            .await?
            .into_iter()
            .map(|v| VersionView {
                active: v.version == rules.version,
                activations: v
                    .activations
                    .iter()
                    .map(|a| format!("{} by {} ({:?})", a.at, a.actor, a.how).to_lowercase())
                    .collect(),
                version: v.version,
            })
            .collect()
    } else {
        Vec::new()
    };
    let html = RulesPage {
        layout: user.layout("/rules"),
        version: rules.version.clone(),
        domains,
        params,
        versions,
        can_edit: user.may("POST", "/v1/rules/preview"),
        files: rules.files.keys().cloned().collect(),
    }
    .render()?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html))
}
