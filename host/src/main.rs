//! The `motionmcp-host` command: parses flags and wires the parts together.

mod cli;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use motionmcp_host::access::rate::Limiter;
use motionmcp_host::access::tls::Tls;
use motionmcp_host::access::tokens::{Tokens, TOKENS_ENV};
use motionmcp_host::access::Access;
use motionmcp_host::http::conn::default_max_connections;
use motionmcp_host::http::{HttpLimits, Lifecycle};
use motionmcp_host::jobs::{JobLimits, Jobs, RedisOptions};
use motionmcp_host::registry::Registry;
use motionmcp_host::runtime::{ComponentCache, Limits, Runtime};

use cli::run::{positive_seconds, RunArgs};
use tokio::net::TcpListener;

/// `--job-store`: `memory` or a `redis://` URL.
fn job_store(s: &str) -> Result<String, String> {
    if s == "memory" || s.starts_with("redis://") {
        Ok(s.to_owned())
    } else {
        Err("expected `memory` or a redis:// URL".into())
    }
}

/// An MMCP 1.4 server that runs motion models as sandboxed WebAssembly components.
#[derive(Parser)]
#[command(name = "motionmcp-host", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve one or more backbone components over HTTP.
    Serve(Box<ServeArgs>),
    /// Print what a backbone component imports and exports, one per line,
    /// without running it: what it could ask of the host, before trusting it.
    Inspect(InspectArgs),
    /// Run one generation without a server: the same validation, backbone call
    /// and glTF encoding as POST /generate, written to a file; refusals print
    /// the envelope's status, code and message and exit with status 1.
    Generate(Box<cli::generate::GenerateArgs>),
    /// Print a component's /capabilities document (after its setup) without serving it.
    Capabilities(Box<cli::generate::CapabilitiesArgs>),
    /// Publish a component to an OCI registry (the Wasm artifact layout) and
    /// print the pinned reference to serve it by: oci://REGISTRY/REPO:TAG@sha256:...
    Push(Box<cli::oci::push::PushArgs>),
}

#[derive(clap::Args)]
struct InspectArgs {
    /// The backbone component: a .wasm file, or oci://REGISTRY/REPO[:TAG]@sha256:DIGEST.
    #[arg(value_name = "MODEL.wasm")]
    model: PathBuf,

    /// Directory for compiled components [default: $XDG_CACHE_HOME/motionmcp-host]
    #[arg(long, value_name = "DIR", env = "MOTIONMCP_CACHE_DIR")]
    cache_dir: Option<PathBuf>,

    /// How an `oci://` model is pulled.
    #[command(flatten)]
    oci: cli::oci::OciArgs,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Backbone components (.wasm files, or oci://REGISTRY/REPO[:TAG]@sha256:DIGEST),
    /// registered under their model ids in this order.
    #[arg(required = true, value_name = "MODEL.wasm")]
    models: Vec<PathBuf>,

    /// Address to listen on; port 0 picks a free port (printed on start).
    #[arg(long, default_value = "127.0.0.1:8000")]
    addr: SocketAddr,

    #[command(flatten)]
    run: RunArgs,

    /// Instances per model: requests of one model that run at once [default: the core count]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    instances: Option<u32>,

    /// Requests per model that may wait for an instance; more get 503 resource_exhausted
    /// [default: 4 x instances, at least 64]
    #[arg(long, value_name = "N")]
    queue: Option<u32>,

    /// Async jobs (models with supports_async) kept at once, running or finished;
    /// more get 503 resource_exhausted
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    max_jobs: u64,

    /// Async jobs one client (token) may hold at once, running or finished; more get
    /// 503 resource_exhausted [default: a quarter of --max-jobs, at least 1]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_jobs_per_client: Option<u64>,

    /// How long a finished async job's answer is kept for polling, in seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0, value_parser = positive_seconds)]
    job_retention: f64,

    /// Where async jobs are kept: `memory` (this process; the default) or
    /// `redis://[user:password@]host[:port][/db]`, shared by every replica given the
    /// same store, so any of them answers a job's polls and deletes
    #[arg(long, value_name = "STORE", default_value = "memory", env = "MOTIONMCP_JOB_STORE", value_parser = job_store)]
    job_store: String,

    /// With a Redis job store: seconds a running job stays alive without its replica
    /// renewing it (every third of this); a job whose replica died fails this long after
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0, value_parser = positive_seconds)]
    job_lease: f64,

    /// With a Redis job store: put before every key, so services can share one Redis
    #[arg(long, value_name = "PREFIX", default_value = "mmcp:")]
    job_store_prefix: String,

    /// Seconds a client has to send a request's headers, counted from when the
    /// connection opens and again after each answer (so also the idle keep-alive
    /// deadline); past it the connection is closed
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0, value_parser = positive_seconds)]
    header_timeout: f64,

    /// Seconds a client has to send a request's whole body once its headers have
    /// arrived; past it the answer is 504 timeout
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0, value_parser = positive_seconds)]
    body_timeout: f64,

    /// Connections open at once; more are closed as soon as accepted
    /// [default: 3/4 of the descriptor limit less 128, at most 10000]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: Option<u64>,

    /// Require `Authorization: Bearer <token>` on every endpoint but the health
    /// probes; FILE holds one `name:token` (or bare token) per line and is re-read
    /// on SIGHUP. Tokens may also be given inline in MOTIONMCP_AUTH_TOKENS
    #[arg(long, value_name = "FILE", env = "MOTIONMCP_AUTH_TOKENS_FILE")]
    auth_tokens: Option<PathBuf>,

    /// Requests one client (token name, or address without tokens) may make:
    /// N/s, N/m or N/h, bursts of N; past it 429 rate_limited with Retry-After
    #[arg(long, value_name = "RATE")]
    rate_limit: Option<motionmcp_host::access::rate::Rate>,

    /// Generations one client may run at once; more get 429 rate_limited
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_concurrent_per_client: Option<u64>,

    /// Serve HTTPS with this PEM certificate chain (re-read on SIGHUP)
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Seconds in-flight requests get to finish after SIGINT/SIGTERM (while
    /// /readyz answers 503); then the process exits whatever its backbones or
    /// the GPU are doing
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0, value_parser = positive_seconds)]
    shutdown_grace: f64,

    /// Serve /metrics without a token (and without the rate limit), like the
    /// health probes; by default it needs a token when --auth-tokens is on,
    /// since it shows the model ids and the load
    #[arg(long)]
    metrics_public: bool,
}

impl ServeArgs {
    /// The job store the flags name, connected.
    async fn jobs(&self) -> Result<Jobs> {
        let limits = JobLimits {
            capacity: self.max_jobs as usize,
            per_client: self
                .max_jobs_per_client
                .map_or((self.max_jobs as usize / 4).max(1), |n| n as usize),
            retention: Duration::from_secs_f64(self.job_retention),
        };
        if self.job_store == "memory" {
            return Ok(Jobs::in_memory(limits));
        }
        let options = RedisOptions {
            url: self.job_store.clone(),
            lease: Duration::from_secs_f64(self.job_lease),
            prefix: self.job_store_prefix.clone(),
        };
        Jobs::on_redis(limits, options).await
    }

    fn http_limits(&self) -> HttpLimits {
        HttpLimits {
            header_timeout: Duration::from_secs_f64(self.header_timeout),
            body_timeout: Duration::from_secs_f64(self.body_timeout),
            max_connections: self
                .max_connections
                .map_or_else(default_max_connections, |n| n as usize),
            shutdown_grace: Duration::from_secs_f64(self.shutdown_grace),
        }
    }

    /// The access rules: tokens, per-client limits, TLS.
    fn access(&self) -> Result<(Arc<Access>, Option<Arc<Tls>>)> {
        let inline = std::env::var(TOKENS_ENV)
            .ok()
            .filter(|t| !t.trim().is_empty());
        let tokens = match (&self.auth_tokens, inline) {
            (None, None) => None,
            (file, inline) => Some(Tokens::load(file.clone(), inline)?),
        };
        if let Some(t) = &tokens {
            tracing::info!(tokens = t.len(), "bearer tokens required");
        }
        let limiter = Limiter::new(
            self.rate_limit,
            self.max_concurrent_per_client.map(|n| n as usize),
        );
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(Arc::new(Tls::load(cert.clone(), key.clone())?)),
            _ => None,
        };
        Ok((Arc::new(Access { tokens, limiter }), tls))
    }

    fn limits(&self) -> Limits {
        let instances = self
            .instances
            .map_or(Limits::default().instances, |n| n as usize);
        let queue = self.queue.map_or(
            motionmcp_host::runtime::limits::default_queue(instances),
            |q| q as usize,
        );
        self.run.limits(instances, queue)
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // A server logs its life; a one-shot command only what went wrong.
    let quiet = !matches!(cli.command, Command::Serve(_));
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(if quiet { "warn" } else { "info" })
            }),
        )
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal, not in log files or journals.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = match cli.command {
        Command::Serve(args) => runtime.block_on(serve(*args)),
        Command::Inspect(args) => runtime.block_on(inspect(args)),
        Command::Capabilities(args) => runtime.block_on(cli::generate::capabilities(*args)),
        Command::Push(args) => runtime.block_on(cli::oci::push::push(*args)),
        Command::Generate(args) => match runtime.block_on(cli::generate::generate(*args)) {
            Ok(()) => Ok(()),
            Err(failure) => {
                failure.report();
                runtime.shutdown_timeout(Duration::from_millis(100));
                std::process::exit(1);
            }
        },
    };
    // A backbone call can still hold a blocking thread (a guest spinning in
    // wasm until its epoch deadline, a wait on the GPU): dropping the runtime
    // would wait for it. The grace period is over by now; do not wait.
    runtime.shutdown_timeout(Duration::from_millis(100));
    if let Err(e) = outcome {
        // One line with every cause ("cannot serve X: registry Y is
        // unreachable: ..."), as `generate` prints, rather than Debug's
        // multi-line "Caused by" list.
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
    Ok(())
}

async fn inspect(args: InspectArgs) -> Result<()> {
    let cache_dir = args.cache_dir.or_else(ComponentCache::default_dir);
    let file = cli::oci::resolve(&args.model, &args.oci, cache_dir.as_deref()).await?;
    let runtime = Runtime::new(ComponentCache::new(cache_dir), Limits::default(), 1)?;
    let interface = runtime
        .interface(file.path())
        .await
        .with_context(|| format!("cannot inspect {}", args.model.display()))?;
    for name in &interface.imports {
        println!("import {name}");
    }
    for name in &interface.exports {
        println!("export {name}");
    }
    Ok(())
}

async fn serve(args: ServeArgs) -> Result<()> {
    // Access rules first: a bad tokens file or certificate is refused before
    // any model loads, and never after the server said it was listening.
    let (access, tls) = args.access()?;
    reload_on_sighup(Arc::clone(&access), tls.clone());
    if access.tokens.is_none() && !args.addr.ip().is_loopback() {
        tracing::warn!(addr = %args.addr, "listening beyond loopback without --auth-tokens: anyone who reaches this port can run the models");
    }
    // Installed before anything slow, so a signal during start-up stops the
    // server cleanly instead of killing it.
    let stop = shutdown_signal()?;
    let limits = args.limits();
    tracing::info!(?limits, "backbone limits");
    let runtime = args.run.runtime(limits, args.models.len())?;
    // The port opens before the models load: /livez answers at once and
    // /readyz says what is loading (the rest is 503 until ready).
    let listener = TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, "listening; loading the models");
    let jobs = Arc::new(args.jobs().await?);
    let http = args.http_limits();
    tracing::info!(?http, "http limits");
    let grace = http.shutdown_grace;
    // Running async jobs get the same grace as requests in flight, counted
    // from the same signal; with a shared store, those cut short fail there
    // at once instead of when their lease lapses.
    let jobs_drained = {
        let (jobs, stop) = (Arc::clone(&jobs), stop.clone());
        tokio::spawn(async move {
            stopped(stop).await;
            jobs.drain(grace).await;
        })
    };
    let config = motionmcp_host::http::Config {
        jobs,
        limits: http,
        access,
        tls,
        metrics: Arc::clone(runtime.metrics()),
        metrics_public: args.metrics_public,
    };
    let life = Arc::new(Lifecycle::starting());
    // The server runs in this task, next to the loading (not spawned: its
    // future need not be Send).
    let server =
        motionmcp_host::http::serve(listener, Arc::clone(&life), config, stopped(stop.clone()));
    tokio::pin!(server);
    let loaded = tokio::select! {
        loaded = load_models(&args.run, &runtime, &args.models, &life) => loaded,
        _ = stopped(stop) => {
            tracing::info!("stopped during start-up");
            return server.await;
        }
        // It ends only after a signal, which the branch above also sees;
        // should it end first, it ends the process.
        served = &mut server => return served,
    };
    // A model that cannot load refuses the start (the listener closes with
    // the server's future).
    let registry = loaded?;
    // Never dropped: dropping a model's GPU device waits for the work still
    // queued on it (a timed-out guest's, say), which would hold the exit.
    // The process is ending when the registry would go; the OS frees it.
    std::mem::forget(Arc::clone(&registry));
    life.ready(Arc::clone(&registry));
    // Tests and scripts read this line to find an ephemeral port; it comes
    // once the models are ready, so it also means "ready".
    let scheme = if args.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    println!("motionmcp-host listening on {scheme}://{local}");
    tracing::info!(addr = %local, models = registry.iter().count(), "ready");
    server.await?;
    // Its own deadline too: storing the cut jobs' failures may retry.
    let _ = tokio::time::timeout(grace + Duration::from_secs(5), jobs_drained).await;
    // Teardown is guest code, run on a blocking thread (a guest call holds
    // its thread until it returns) under one overall deadline: past it the
    // process exits without waiting for it.
    let handle = tokio::runtime::Handle::current();
    let models = Arc::clone(&registry);
    let teardown = tokio::task::spawn_blocking(move || {
        handle.block_on(async {
            for model in models.iter() {
                model.teardown().await;
            }
        })
    });
    if tokio::time::timeout(grace, teardown).await.is_err() {
        tracing::warn!("teardown ran past the grace period; exiting without it");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Loads every model in the order given (setup runs in that order too),
/// telling `life` what is loading, and checks them as a set.
async fn load_models(
    run: &RunArgs,
    runtime: &Runtime,
    paths: &[PathBuf],
    life: &Lifecycle,
) -> Result<Arc<Registry>> {
    let mut models = Vec::with_capacity(paths.len());
    for (i, path) in paths.iter().enumerate() {
        // The file's name only (a reference's repository and tag): /readyz
        // is public, the directories and the registry need not be.
        life.loading(format!(
            "loading {} ({i} of {} models ready)",
            cli::oci::display_name(path),
            paths.len()
        ));
        let model = cli::run::load(run, runtime, path)
            .await
            .with_context(|| format!("cannot serve {}", path.display()))?;
        models.push(model);
    }
    Ok(Arc::new(Registry::new(models)?))
}

/// SIGHUP re-reads the tokens file and the TLS certificate; a file that
/// cannot be read leaves what was in force, and the log says why.
fn reload_on_sighup(access: Arc<Access>, tls: Option<Arc<Tls>>) {
    if access.tokens.is_none() && tls.is_none() {
        // Nothing to reload: SIGHUP keeps its default meaning.
        return;
    }
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot install a SIGHUP handler: no reloading");
            return;
        };
        while hangups.recv().await.is_some() {
            if let Some(tokens) = &access.tokens {
                match tokens.reload() {
                    Ok(count) => tracing::info!(tokens = count, "tokens reloaded"),
                    Err(e) => {
                        tracing::error!(error = %format!("{e:#}"), "tokens not reloaded; the previous ones stay")
                    }
                }
            }
            if let Some(tls) = &tls {
                match tls.reload() {
                    Ok(()) => tracing::info!("TLS certificate reloaded"),
                    Err(e) => {
                        tracing::error!(error = %format!("{e:#}"), "TLS certificate not reloaded; the previous one stays")
                    }
                }
            }
        }
    });
    #[cfg(not(unix))]
    let _ = (access, tls);
}

/// Resolves once SIGINT or SIGTERM has arrived (at once if one already has).
async fn stopped(mut stop: tokio::sync::watch::Receiver<bool>) {
    // An error means the sender is gone: it has sent, or the runtime is
    // ending; either way the server is stopping.
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// Installs the SIGINT/SIGTERM handlers now (so a signal that comes while
/// the models load is caught) and says when one arrives.
fn shutdown_signal() -> Result<tokio::sync::watch::Receiver<bool>> {
    let (tell, stop) = tokio::sync::watch::channel(false);
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt =
            signal(SignalKind::interrupt()).context("installing a SIGINT handler")?;
        let mut term = signal(SignalKind::terminate()).context("installing a SIGTERM handler")?;
        tokio::spawn(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = term.recv() => {}
            }
            tracing::info!("shutdown signal received");
            let _ = tell.send(true);
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        let _ = tell.send(true);
    });
    Ok(stop)
}
