//! The HTTP API end to end: the real server on a random loopback port, driven with
//! reqwest. One binary, one module per area.

mod helpers;

mod access;
mod audit;
mod auth;
mod bad_input;
mod batch;
mod caseload;
mod caseload_plans;
mod console;
mod console_audit;
mod console_caseload;
mod console_editor;
mod console_publish;
mod console_rules;
mod console_student;
mod contract;
mod edfi;
mod equity;
mod evaluate;
mod families;
mod format;
mod health;
mod import;
mod lifecycle;
mod logs;
mod measures;
mod notices;
mod plan_events;
mod plan_loop;
mod plan_retention;
mod plans;
mod privacy;
mod retention;
mod roles;
mod rules;
mod rules_dir;
mod shutdown;
mod storage;
mod students;
mod tamper;
mod webhooks;
mod workers;
