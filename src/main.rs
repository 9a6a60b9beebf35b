use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = idp::cli::Cli::parse();
    idp::init_tracing(matches!(cli.command, idp::cli::Command::Serve));
    idp::cli::run(cli).await
}
