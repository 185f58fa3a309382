//! The `switchboard` binary: a thin shell over the `switchboard-server` library.

mod simulate;

/// The server allocates and frees small buffers on every request on several threads at once (HTTP, JSON, the
/// store's writer); glibc's allocator spent about a tenth of the request path's time there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use switchboard_server::{
    Config, Server, admin, bench, config::Overrides, demo, init_tracing, open_store, shutdown_signal,
};

#[derive(Parser)]
#[command(name = "switchboard", version, about = "An omnichannel contact center engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone, Default)]
struct Common {
    /// A TOML configuration file (layered over the defaults, under environment variables).
    #[arg(long, global = true, env = "SWITCHBOARD_CONFIG")]
    config: Option<PathBuf>,
    /// Where the embedded database and keys live [default: ./switchboard-data].
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// A postgres:// URL; without it, SQLite under the data directory.
    #[arg(long, global = true)]
    database_url: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Address to listen on [default: 127.0.0.1:8080].
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Seed (once) a demo organization and write its credentials to DATA_DIR/demo.json.
        #[arg(long)]
        demo: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Bring the database schema up to date and exit.
    Migrate {
        #[command(flatten)]
        common: Common,
    },
    /// Create organizations, clients and users.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
        #[command(flatten)]
        common: Common,
    },
    /// Measure throughput and latency (see docs/benchmarks.md).
    Bench(bench::BenchArgs),
    /// Simulate routing and wait-time estimates on the standard scenarios (see docs/simulator.md).
    Simulate(simulate::SimulateArgs),
    /// Print the OpenAPI document of the native API (the one served at /openapi.json) and exit.
    Openapi,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Organizations.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// OAuth2 clients (client-credentials grant).
    Client {
        #[command(subcommand)]
        command: ClientCommand,
    },
    /// Users: agents, supervisors, admins.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an organization; prints {"org_id", "api_key"} (an admin key).
    Create {
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Create a client; prints {"client_id", "client_secret", "role"}.
    Create {
        #[arg(long)]
        org: String,
        #[arg(long, default_value = "integration")]
        role: String,
        #[arg(long, default_value = "integration")]
        name: String,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user with an API key that acts as them; prints {"user_id", "name", "role", "api_key"}.
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long, default_value = "agent")]
        role: String,
        /// Read the user's password (12 to 128 characters) from the first line of standard input, so that they can
        /// sign in from a browser (needs --email).
        #[arg(long)]
        password_stdin: bool,
    },
}

fn load(common: &Common, listen: Option<SocketAddr>) -> anyhow::Result<Config> {
    for name in switchboard_server::config::unknown_env_vars() {
        eprintln!("warning: {name} is not a configuration key; ignoring it");
    }
    Config::load(&Overrides {
        config_file: common.config.clone(),
        listen,
        data_dir: common.data_dir.clone(),
        database_url: common.database_url.clone(),
    })
}

/// The first line of standard input, without its line ending: a password piped in, never on the command line
/// (where other users of the machine could read it).
fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Pure computation: no runtime needed.
    if let Command::Simulate(args) = &cli.command {
        return simulate::run(args);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { listen, demo: seed_demo, common } => {
            let config = load(&common, listen)?;
            init_tracing(config.log_format);
            let data_dir = config.data_dir.clone();
            let server = Server::build(config).await?;
            if seed_demo {
                let demo = demo::ensure(server.state(), &data_dir).await?;
                println!(
                    "demo organization {} ready: credentials in {} (admin key {}…)",
                    demo.org_id,
                    demo::demo_path(&data_dir).display(),
                    demo.admin_api_key.chars().take(12).collect::<String>()
                );
            }
            println!("listening on http://{}", server.local_addr());
            server.run(shutdown_signal()).await
        }
        Command::Migrate { common } => {
            let config = load(&common, None)?;
            init_tracing(config.log_format);
            let store = switchboard_store::Store::connect(&config.store()).await.map_err(anyhow::Error::from)?;
            let applied = store.migrate().await.map_err(anyhow::Error::from)?;
            println!("{applied} migration(s) applied");
            Ok(())
        }
        Command::Admin { command, common } => {
            let config = load(&common, None)?;
            let store = open_store(&config).await?;
            let fail = |e: switchboard_domain::Error| anyhow::anyhow!("{}: {}", e.code, e.detail);
            let org = |s: &str| s.parse().map_err(|_| anyhow::anyhow!("--org must be an organization id"));
            let role = |s: &str| s.parse().map_err(|e: String| anyhow::anyhow!(e));
            match command {
                AdminCommand::Org { command: OrgCommand::Create { name } } => print_json(
                    &admin::create_org(&store, &name, switchboard_domain::Timestamp::now()).await.map_err(fail)?.1,
                ),
                AdminCommand::Client { command: ClientCommand::Create { org: o, role: r, name } } => print_json(
                    &admin::create_client(&store, org(&o)?, &name, role(&r)?, switchboard_domain::Timestamp::now())
                        .await
                        .map_err(fail)?
                        .1,
                ),
                AdminCommand::User {
                    command: UserCommand::Create { org: o, name, email, role: r, password_stdin },
                } => {
                    let password = if password_stdin { Some(read_password()?) } else { None };
                    print_json(
                        &admin::create_user(
                            &store,
                            org(&o)?,
                            &name,
                            email.as_deref(),
                            role(&r)?,
                            password,
                            switchboard_domain::Timestamp::now(),
                        )
                        .await
                        .map_err(fail)?
                        .1,
                    )
                }
            }
        }
        Command::Bench(args) => {
            // What the servers under load log (set SWITCHBOARD_LOG=warn to see only what went wrong) goes to
            // stderr; the figures go to stdout.
            init_tracing(switchboard_server::config::LogFormat::Text);
            bench::run(args).await.context("benchmark failed")
        }
        Command::Simulate(args) => simulate::run(&args),
        Command::Openapi => {
            println!("{}", serde_json::to_string_pretty(&switchboard_server::api::openapi())?);
            Ok(())
        }
    }
}
