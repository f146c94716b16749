//! `intervene serve`: logging set up, then the HTTP service run until a stop signal.

use std::io::{self, IsTerminal};
use std::process::ExitCode;

use super::CliError;
use crate::config::{LogFormat, Settings};
use crate::http::Application;

/// Logs go to stderr through a background thread that writes whatever lines are
/// waiting in one `write` (a request no longer waits on a syscall per line). No line
/// is dropped: a full queue slows callers down instead. Keep the guard until exit;
/// dropping it writes out the rest.
fn init_tracing(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,actix_server=warn".into());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("log-writer")
        .finish(io::BufWriter::with_capacity(64 * 1024, io::stderr()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(io::stderr().is_terminal());
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        LogFormat::Text => builder.init(),
    }
    guard
}

/// Serve with `settings` until SIGINT or SIGTERM; the audit log is flushed on exit.
pub fn run(settings: Settings) -> Result<ExitCode, CliError> {
    let _log_guard = init_tracing(settings.log_format);
    actix_web::rt::System::new().block_on(async move {
        let bind = settings.bind.clone();
        let app = Application::build(settings).await?;
        tracing::info!(
            "listening on http://{}",
            bind.rsplit_once(':')
                .map(|(h, _)| format!("{h}:{}", app.port()))
                .unwrap_or(bind)
        );
        app.run_until_stopped().await?;
        tracing::info!("stopped; audit log flushed");
        Ok(ExitCode::SUCCESS)
    })
}
