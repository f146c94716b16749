//! The console in a real browser: headless Chromium driven over WebDriver
//! (chromedriver on a loopback port) against the real server on port 0, with the
//! vendored axe-core for accessibility. One binary, one module per area.
//!
//! Without `chromedriver`/`chromium` every test prints a notice and passes, unless
//! `INTERVENE_REQUIRE_BROWSER=1` (CI) makes that a failure. `INTERVENE_SCREENSHOTS=1`
//! writes the pages' screenshots to `docs/screenshots/`.

#[allow(dead_code, unused_imports)]
#[path = "../api/helpers.rs"]
mod helpers;

mod harness;
mod stub;

mod audit;
mod console;
mod rosters;
mod rules;
mod selftest;
mod student;
