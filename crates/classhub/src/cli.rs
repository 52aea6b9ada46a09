//! The `classhub` command: `serve`, `migrate`, and admin commands that work on the
//! database directly and print JSON.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use classhub_cloudshare::ids::{self, Kind};
use classhub_core::UserId;
use classhub_core::audit::Context;
use classhub_core::lab::CustomField;
use classhub_core::secret::SecretBox;
use classhub_core::user::{NewUser, UserKind};
use classhub_core::{CustomFieldId, ProjectId};
use classhub_store::ops::catalog::{
    CreateBlueprint, CreateCustomField, CreatePolicy, CreateProject, CreateProjectMember,
};
use classhub_store::ops::catalog::{CreateCourse, CreateModel};
use classhub_store::ops::users::{CreateUser, RevokeToken};
use classhub_store::{Store, StoreOptions};
use serde_json::json;
use tracing_subscriber::EnvFilter;

use crate::config::{
    self, Cli, CloudshareCommand, Command, ConfigError, CourseCommand, CreateOnly, LogFormat, ModelCommand,
    PersonCommand, Synchronous, TokenCommand,
};

pub fn main() -> ExitCode {
    let cli = match config::parse_from(std::env::args_os()) {
        Ok(cli) => cli,
        Err(ConfigError::Args(e)) => e.exit(),
        Err(e) => {
            eprintln!("classhub: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("classhub: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("classhub: {e}");
            ExitCode::FAILURE
        }
    }
}

/// tokio-postgres logs every statement's parameters at debug level (invite codes, emails,
/// CloudShare passphrases): held at info unless the filter names it explicitly.
const QUIET_PARAMETERS: &str = "tokio_postgres=info";

/// The `--log` filter, with [`QUIET_PARAMETERS`] unless the filter names `tokio_postgres`.
fn log_filter(spec: &str) -> EnvFilter {
    let spec = match spec.trim() {
        s if s.contains("tokio_postgres") => s.to_string(),
        "" => QUIET_PARAMETERS.to_string(),
        s => format!("{s},{QUIET_PARAMETERS}"),
    };
    EnvFilter::try_new(&spec).unwrap_or_else(|_| EnvFilter::new(format!("info,{QUIET_PARAMETERS}")))
}

fn init_logging(cli: &Cli) {
    let filter = log_filter(&cli.log);
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match cli.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

pub fn store_options(cli: &Cli) -> StoreOptions {
    let mut opts = StoreOptions::new(&cli.database_url);
    opts.sqlite_sync_full = cli.sqlite_synchronous == Synchronous::Full;
    opts.pg_pool_size = cli.pg_pool_size.max(1);
    opts
}

/// The server key: read from its file, or made and written there (readable by the owner
/// only) on first use. Two processes starting at once agree: the second reads the first's.
pub fn load_or_create_key(path: &Path) -> Result<SecretBox, String> {
    let read = |text: &str| {
        SecretBox::decode_key(text)
            .map(|k| SecretBox::new(&k))
            .ok_or_else(|| format!("{} does not hold a classhub key (32 bytes, base64)", path.display()))
    };
    match std::fs::read_to_string(path) {
        Ok(text) => read(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SecretBox::generate_key(&mut rand::rng());
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(path) {
                Ok(mut file) => {
                    std::io::Write::write_all(&mut file, SecretBox::encode_key(&key).as_bytes())
                        .map_err(|e| format!("writing {}: {e}", path.display()))?;
                    tracing::info!(path = %path.display(), "created a new secret key");
                    Ok(SecretBox::new(&key))
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
                    read(&text)
                }
                Err(e) => Err(format!("creating {}: {e}", path.display())),
            }
        }
        Err(e) => Err(format!("reading {}: {e}", path.display())),
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let store = Store::open(&store_options(&cli)).await.map_err(|e| e.to_string())?;
    let store = Arc::new(store);
    let key_path = cli.secret_key_path();
    let result = match cli.command {
        Command::Serve(args) => match load_or_create_key(&key_path) {
            Ok(secrets) => crate::serve::run(store.clone(), *args, secrets).await,
            Err(e) => Err(e),
        },
        Command::Migrate => {
            println!("database is up to date");
            Ok(())
        }
        Command::Check => check(&store).await,
        Command::Cloudshare(c) => cloudshare(&store, c, &key_path).await,
        other => admin(&store, other).await,
    };
    store.close().await;
    result
}

/// `classhub check`: `{"broken": []}` and success when every invariant holds.
async fn check(store: &Store) -> Result<(), String> {
    let broken = store.read(classhub_store::ops::check::BrokenInvariants).await.map_err(|e| e.to_string())?;
    println!("{}", json!({ "broken": broken }));
    if broken.is_empty() { Ok(()) } else { Err(format!("{} invariants do not hold", broken.len())) }
}

/// The admin commands: each prints what it made as JSON.
async fn admin(store: &Store, command: Command) -> Result<(), String> {
    let ctx = Context::new(None, None);
    let out = match command {
        Command::Partner(PersonCommand::Create { name, email }) => {
            person(store, ctx, UserKind::Partner, name, email).await
        }
        Command::Student(PersonCommand::Create { name, email }) => {
            person(store, ctx, UserKind::Student, name, email).await
        }
        Command::Model(ModelCommand::Create { name, provider }) => store
            .write(CreateModel { ctx, name, provider })
            .await
            .map(|m| json!({ "id": m.id, "name": m.name, "provider": m.provider })),
        Command::Course(CourseCommand::Create { partner_id, title }) => store
            .write(CreateCourse { ctx, partner_id: UserId(partner_id), title })
            .await
            .map(|c| json!({ "id": c.id, "partner_id": c.partner_id, "title": c.title })),
        Command::Token(TokenCommand::Revoke { token }) => {
            store.write(RevokeToken { ctx, token }).await.map(|()| json!({ "revoked": true }))
        }
        Command::Serve(_) | Command::Migrate | Command::Check | Command::Cloudshare(_) => return Ok(()),
    };
    let out = out.map_err(|e| e.to_string())?;
    println!("{out}");
    Ok(())
}

async fn person(
    store: &Store,
    ctx: Context,
    kind: UserKind,
    name: String,
    email: String,
) -> classhub_store::Result<serde_json::Value> {
    let (user, token) = store.write(CreateUser { ctx, user: NewUser::named(kind, name, Some(email)) }).await?;
    Ok(json!({ "id": user.id, "name": user.name, "email": user.email, "token": token }))
}

fn project(text: &str) -> Result<ProjectId, String> {
    ids::decode(Kind::Project, text.trim()).map(ProjectId).ok_or_else(|| format!("{text:?} is not a project id (PR…)"))
}

/// The CloudShare admin commands: each prints what it made as JSON, ids CloudShare-style.
async fn cloudshare(store: &Store, command: CloudshareCommand, key_path: &Path) -> Result<(), String> {
    let ctx = Context::new(None, None);
    let err = |e: classhub_store::StoreError| e.to_string();
    let out = match command {
        CloudshareCommand::Project(CreateOnly::Create(a)) => {
            let p = store.write(CreateProject { ctx, name: a.name }).await.map_err(err)?;
            json!({ "id": ids::encode(Kind::Project, p.id.0), "name": p.name })
        }
        CloudshareCommand::Policy(CreateOnly::Create(a)) => {
            let op = CreatePolicy {
                ctx,
                project: project(&a.project)?,
                name: a.name,
                default_duration_minutes: a.default_duration_minutes,
            };
            let p = store.write(op).await.map_err(err)?;
            json!({ "id": ids::encode(Kind::Policy, p.id.0), "name": p.name, "default_duration_minutes": p.default_duration_minutes })
        }
        CloudshareCommand::Blueprint(CreateOnly::Create(a)) => {
            let op = CreateBlueprint { ctx, project: project(&a.project)?, name: a.name, description: a.description };
            let b = store.write(op).await.map_err(err)?;
            json!({ "id": ids::encode(Kind::Blueprint, b.id.0), "name": b.name, "token": b.token })
        }
        CloudshareCommand::CustomField(CreateOnly::Create(a)) => {
            let field = CustomField {
                id: CustomFieldId(0),
                project_id: project(&a.project)?,
                name: a.name,
                order: a.order,
                kind: a.kind,
                is_required: a.required,
                regex: a.regex,
                default_value: a.default_value,
            };
            let f = store.write(CreateCustomField { ctx, field }).await.map_err(err)?;
            json!({ "id": ids::encode(Kind::Field, f.id.0), "name": f.name })
        }
        CloudshareCommand::Member(CreateOnly::Create(a)) => {
            let projects = a.projects.iter().map(|p| project(p)).collect::<Result<Vec<_>, _>>()?;
            let secrets = load_or_create_key(key_path)?;
            let op = CreateProjectMember {
                ctx,
                name: a.name,
                email: a.email,
                projects,
                can_instruct: a.can_instruct,
                secrets,
            };
            let m = store.write(op).await.map_err(err)?;
            let vups: serde_json::Map<String, serde_json::Value> = m
                .memberships
                .iter()
                .map(|(p, v)| (ids::encode(Kind::Project, p.0), json!(ids::encode(Kind::Member, v.0))))
                .collect();
            json!({ "vup_ids": vups, "api_id": m.api_id, "api_key": m.api_key })
        }
    };
    println!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_parameters_stay_out_of_verbose_logs() {
        for spec in ["debug", "trace", "warn,classhub=debug", "", "not a filter ==="] {
            assert!(log_filter(spec).to_string().contains(QUIET_PARAMETERS), "{spec:?}");
        }
        // An operator who asks for them by name gets them.
        assert!(!log_filter("debug,tokio_postgres=debug").to_string().contains(QUIET_PARAMETERS));
    }
}
