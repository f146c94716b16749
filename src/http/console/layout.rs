//! What every console page's frame shows ([`Layout`]: who is signed in, the sign-out
//! form's CSRF token, the navigation the role may see), and [`may`], the console's
//! reading of the API's route table: a page is shown to the roles that may call the
//! API route it reads, so the console never allows what the API refuses.

use super::assets::css_href;
use crate::config::Role;
use crate::http::access::Access;
use crate::http::routes::ROUTES;

/// Whether `role` may call the API route `method path` (admin may call every
/// route with roles; public and signed routes are not for people).
pub fn may(role: Role, method: &str, path: &str) -> bool {
    ROUTES
        .iter()
        .filter(|r| r.method == method && r.path == path)
        .any(|r| match r.access {
            Access::Roles(roles) => role == Role::Admin || roles.contains(&role),
            Access::Public | Access::Signed => false,
        })
}

/// One link of the header's navigation.
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    /// This is the page being shown (`aria-current="page"`).
    pub current: bool,
}

/// The pages of the navigation: link, label and the API route whose roles see it.
const PAGES: [(&str, &str, &str); 3] = [
    ("/", "Caseload", "/v1/caseload"),
    ("/rules", "Rules", "/v1/rules"),
    ("/audit", "Audit", "/v1/audit"),
];

/// The frame of a page: `layout` in every template that extends
/// `console/base.html`.
pub struct Layout {
    /// The signed-in actor's name; `None` on the sign-in and error pages.
    pub user: Option<String>,
    pub role: &'static str,
    /// The session's CSRF token, for the sign-out form and every other form.
    pub csrf: String,
    pub nav: Vec<NavItem>,
    /// The stylesheet's link.
    pub css: &'static str,
}

impl Layout {
    /// The frame for `name` with `role`; `current` is the navigation link of the
    /// page (`"/"`, `"/rules"`, `"/audit"`, or `""` for none).
    pub fn signed_in(name: &str, role: Role, csrf: &str, current: &str) -> Layout {
        Layout {
            user: Some(name.to_string()),
            role: role.as_str(),
            csrf: csrf.to_string(),
            nav: PAGES
                .iter()
                .filter(|(_, _, api)| may(role, "GET", api))
                .map(|(href, label, _)| NavItem {
                    href,
                    label,
                    current: *href == current,
                })
                .collect(),
            css: css_href(),
        }
    }

    /// The frame of a page shown to nobody in particular (sign-in, errors).
    pub fn anonymous() -> Layout {
        Layout {
            user: None,
            role: "",
            csrf: String::new(),
            nav: Vec::new(),
            css: css_href(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(role: Role) -> Vec<&'static str> {
        Layout::signed_in("x", role, "t", "/")
            .nav
            .iter()
            .map(|n| n.label)
            .collect()
    }

    #[test]
    fn the_navigation_follows_the_route_table() {
        assert_eq!(labels(Role::Counselor), ["Caseload", "Rules"]);
        assert_eq!(labels(Role::Auditor), ["Caseload", "Rules", "Audit"]);
        assert_eq!(labels(Role::Admin), ["Caseload", "Rules", "Audit"]);
        assert!(labels(Role::Ingest).is_empty());
    }
}
