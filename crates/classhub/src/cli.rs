//! The `classhub` command: `serve`, `migrate`, and admin commands that work on the
//! database directly and print JSON.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use classhub_cloudshare::ids::{self, Kind};
use classhub_core::CourseId;
use classhub_core::ModelId;
use classhub_core::UserId;
use classhub_core::audit::Context;
use classhub_core::catalog::{CourseFilter, CoursePatch, ModelFilter, ModelPatch, fold};
use classhub_core::lab::{BlueprintPatch, CustomField, FieldPatch, MemberRights, PolicyPatch, ProjectPatch};
use classhub_core::patch::Patch;
use classhub_core::secret::SecretBox;
use classhub_core::user::{NewUser, UserKind};
use classhub_core::user::{UserFilter, UserPatch};
use classhub_core::{BlueprintId, PolicyId, ProjectMemberId};
use classhub_core::{CustomFieldId, ProjectId};
use classhub_store::CatalogEntry;
use classhub_store::ops::accounts::UpdateUser;
use classhub_store::ops::accounts::{CreatePerson, SetPassword};
use classhub_store::ops::catalog::{
    CatalogChange, CourseById, CreateCourse, CreateModel, DeleteCatalogEntry, DeleteCourse, DeleteModel, GetModel,
    ListCourses, ListModels, MemberRightsPatch, UpdateCatalogEntry, UpdateCourse, UpdateModel,
};
use classhub_store::ops::catalog::{
    CreateBlueprint, CreateCustomField, CreatePolicy, CreateProject, CreateProjectMember, RotateApiKey,
};
use classhub_store::ops::lab::{ListProjects, ProjectDetail};
use classhub_store::ops::security::{CheckServerKey, HoldsSealedSecrets};
use classhub_store::ops::users::{DeleteUser, ListUsers, RevokeToken, RotateToken};
use classhub_store::{Store, StoreOptions};
use serde_json::json;
use tracing_subscriber::EnvFilter;

use crate::config::{
    self, Cli, CloudshareCommand, Command, ConfigError, CourseCommand, EntryCommand, EntryRef, ListArgs, LogFormat,
    MemberCommand, ModelCommand, Output, PersonCommand, ProjectCommand, Synchronous, TokenCommand, UserCommand,
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
    let exporting = match &cli.command {
        Command::Serve(args) => args.otlp_endpoint.as_ref().map(crate::telemetry::otlp_provider).transpose(),
        _ => Ok(None),
    };
    let exporting = match exporting {
        Ok(e) => e,
        Err(e) => {
            eprintln!("classhub: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&cli, exporting.as_ref());
    let code = run_with_runtime(cli);
    // The spans of the last requests, sent before the process ends.
    if let Some(provider) = exporting
        && let Err(e) = provider.shutdown()
    {
        eprintln!("classhub: exporting spans: {e}");
    }
    code
}

fn run_with_runtime(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("classhub: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Each error once: the server's in its log (the configured format, which its
    // supervisor collects), a command's on stderr for whoever typed it.
    let serving = matches!(cli.command, Command::Serve(_));
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if serving => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("classhub: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The `--log` filter; a filter that does not parse falls back to `info`. The migration
/// library's own lines (one per migration, with its source paths) are left out: the store
/// logs one line naming the migrations it applied. So are PostgreSQL's notices (its
/// "relation already exists, skipping" on every start).
fn log_filter(spec: &str) -> EnvFilter {
    let filter = EnvFilter::try_new(spec.trim()).unwrap_or_else(|_| EnvFilter::new("info"));
    ["refinery_core=warn", "refinery=warn", "tokio_postgres::connection=warn"]
        .iter()
        .filter_map(|d| d.parse().ok())
        .fold(filter, EnvFilter::add_directive)
}

/// Whether an event may be written whatever the filter: tokio-postgres logs every
/// statement's parameters (invite codes, emails, passphrases) below info, so nothing of it
/// below info is ever written.
fn never_secret(meta: &tracing::Metadata<'_>) -> bool {
    !(meta.target().starts_with("tokio_postgres") && *meta.level() > tracing::Level::INFO)
}

fn init_logging(cli: &Cli, exporting: Option<&opentelemetry_sdk::trace::SdkTracerProvider>) {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let guard = tracing_subscriber::filter::filter_fn(never_secret);
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    let layer = match cli.log_format {
        LogFormat::Json => layer.json().with_filter(guard).boxed(),
        LogFormat::Text => layer.with_filter(guard).boxed(),
    };
    let spans = exporting.map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("classhub")));
    let _ = tracing_subscriber::registry().with(log_filter(&cli.log)).with(layer).with(spans).try_init();
}

pub fn store_options(cli: &Cli) -> StoreOptions {
    let mut opts = StoreOptions::new(&cli.database_url);
    opts.sqlite_sync_full = cli.sqlite_synchronous == Synchronous::Full;
    opts.pg_pool_size = cli.pg_pool_size.max(1);
    opts.connect_wait = std::time::Duration::from_secs(cli.database_wait);
    opts
}

/// The server key: read from its file, or made and written there (readable by the owner
/// only) on first use. Two processes starting at once agree: the second reads the first's.
/// A database that holds secrets sealed with a key never gets a new one: a missing key file
/// or another key refuses to start, saying so, instead of answering every CloudShare client
/// "unknown API id".
pub async fn server_key(store: &Store, path: &Path) -> Result<SecretBox, String> {
    let holds_secrets = store.read(HoldsSealedSecrets).await.map_err(|e| e.to_string())?;
    let secrets = match std::fs::metadata(path) {
        Ok(_) => read_key(path)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && holds_secrets => {
            return Err(format!(
                "the database holds secrets sealed with a server key, but the key file {} does not exist: \
                 restore the key file that belongs to this database (a backup needs its key) or name it \
                 with --secret-key-file",
                path.display()
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_key(path)?,
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    };
    if !store.write(CheckServerKey { secrets: secrets.clone() }).await.map_err(|e| e.to_string())? {
        return Err(format!(
            "the database's secrets are sealed with another server key than {}: start with the key file this \
             database was made with",
            path.display()
        ));
    }
    Ok(secrets)
}

/// Makes a key file atomically: written whole under a temporary name, then linked to
/// `path` only if nothing is there, so a process starting alongside never reads half a key.
fn create_key(path: &Path) -> Result<SecretBox, String> {
    let key = SecretBox::generate_key(&mut rand::rng());
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let fail = |what: &str, e: std::io::Error| format!("{what} {}: {e}", path.display());
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(|e| fail("creating a key beside", e))?;
    std::io::Write::write_all(&mut temp, SecretBox::encode_key(&key).as_bytes()).map_err(|e| fail("writing", e))?;
    temp.as_file().sync_all().map_err(|e| fail("writing", e))?;
    match std::fs::hard_link(temp.path(), path) {
        Ok(()) => {
            tracing::info!(path = %path.display(), "created a new secret key");
            Ok(SecretBox::new(&key))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_key(path),
        Err(e) => Err(fail("creating", e)),
    }
}

fn read_key(path: &Path) -> Result<SecretBox, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    SecretBox::decode_key(&text)
        .map(|k| SecretBox::new(&k))
        .ok_or_else(|| format!("{} does not hold a classhub key (32 bytes, base64)", path.display()))
}

async fn run(cli: Cli) -> Result<(), String> {
    // Neither opens the database first: a backup only reads it, a restore makes it.
    match &cli.command {
        Command::Backup { path } => return backup(&cli, path),
        Command::Restore { path } => return restore(&cli, path).await,
        Command::Copy { from, to } => return copy(&cli, from, to).await,
        _ => {}
    }
    let store = Store::open(&store_options(&cli)).await.map_err(|e| e.to_string())?;
    let store = Arc::new(store);
    let key_path = cli.secret_key_path();
    let result = match cli.command {
        Command::Serve(args) => match server_key(&store, &key_path).await {
            Ok(secrets) => crate::serve::run(store.clone(), *args, secrets).await,
            Err(e) => Err(e),
        },
        Command::Migrate => {
            match store.migrated() {
                [] => println!("the database was already up to date"),
                applied => println!("applied {} migration(s): {}", applied.len(), applied.join(", ")),
            }
            Ok(())
        }
        Command::Check => check(&store).await,
        Command::Cloudshare(c) => cloudshare(&store, c, &key_path, cli.output).await,
        other => admin(&store, other, cli.output).await,
    };
    store.close().await;
    result
}

/// The key file that goes with a backup at `path`.
fn backup_key_path(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}.key", path.display()))
}

/// Copies a key file to a new file readable by its owner only; never overwrites.
fn copy_key(from: &Path, to: &Path) -> Result<(), String> {
    let key = std::fs::read(from).map_err(|e| format!("reading the server key {}: {e}", from.display()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(to).map_err(|e| format!("writing the key {}: {e}", to.display()))?;
    std::io::Write::write_all(&mut file, &key)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("writing the key {}: {e}", to.display()))
}

/// `classhub backup PATH`: the database through SQLite's online backup, then its key.
fn backup(cli: &Cli, path: &Path) -> Result<(), String> {
    let key = cli.secret_key_path();
    if !key.exists() {
        return Err(format!(
            "the server key {} does not exist: a backup without its key cannot be restored (name the key with \
             --secret-key-file)",
            key.display()
        ));
    }
    let backup_key = backup_key_path(path);
    if backup_key.exists() {
        return Err(format!("{} exists: a backup never overwrites a file", backup_key.display()));
    }
    classhub_store::backup_sqlite(&cli.database_url, path).map_err(|e| e.to_string())?;
    copy_key(&key, &backup_key)?;
    println!("{}", json!({"database": path, "key": backup_key}));
    Ok(())
}

/// `classhub restore PATH`: the backup becomes `--database-url`, its key this database's key.
async fn restore(cli: &Cli, path: &Path) -> Result<(), String> {
    let target = match cli.database_url.strip_prefix("sqlite://") {
        Some(t) if !t.is_empty() => PathBuf::from(t),
        _ => return Err("restore makes a SQLite database: give --database-url sqlite://PATH".into()),
    };
    let (backup_key, key) = (backup_key_path(path), cli.secret_key_path());
    if !backup_key.exists() {
        return Err(format!("{} does not exist: a backup is restored with its key", backup_key.display()));
    }
    if key.exists() {
        return Err(format!(
            "{} exists: restore into a fresh folder (or name another --secret-key-file)",
            key.display()
        ));
    }
    let from = format!("sqlite://{}", path.display());
    classhub_store::backup_sqlite(&from, &target).map_err(|e| e.to_string())?;
    copy_key(&backup_key, &key)?;
    let store = Store::open(&store_options(cli)).await.map_err(|e| e.to_string())?;
    let checked = server_key(&store, &key).await;
    let migrated = store.migrated().to_vec();
    store.close().await;
    checked?;
    println!("{}", json!({"database": target, "key": key, "migrated": migrated}));
    Ok(())
}

/// `classhub copy --from sqlite://… --to postgres://…`, with a progress bar on a terminal;
/// prints what it copied and the key file the PostgreSQL deployment needs.
async fn copy(cli: &Cli, from: &str, to: &str) -> Result<(), String> {
    use classhub_store::copy::CopyProgress;
    let mut from_opts = store_options(cli);
    from_opts.url = from.to_string();
    let mut to_opts = store_options(cli);
    to_opts.url = to.to_string();
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>24} [{bar:40}] {pos}/{len} rows ({eta})")
            .map_err(|e| e.to_string())?
            .progress_chars("=> "),
    );
    let mut progress = |p: CopyProgress<'_>| match p {
        CopyProgress::Started { rows } => bar.set_length(rows),
        CopyProgress::Copied { table, rows } => {
            bar.set_message(table.to_string());
            bar.inc(rows);
        }
        CopyProgress::Verifying => bar.set_message("verifying"),
    };
    let copied = classhub_store::copy::sqlite_to_postgres(&from_opts, &to_opts, &mut progress).await;
    bar.finish_and_clear();
    let report = copied.map_err(|e| e.to_string())?;
    let key = cli.secret_key_path_of(from);
    let key = key.exists().then_some(key);
    println!(
        "{}",
        json!({
            "from": from,
            "to": classhub_store::redact_url(to),
            "rows": report.rows,
            "tables": report.tables,
            "rows_compared": report.rows_compared,
            "secret_key_file": key,
        })
    );
    Ok(())
}

/// `classhub check`: `{"broken": []}` and success when every invariant holds.
async fn check(store: &Store) -> Result<(), String> {
    let broken = store.read(classhub_store::ops::check::BrokenInvariants).await.map_err(|e| e.to_string())?;
    println!("{}", json!({ "broken": broken }));
    if broken.is_empty() { Ok(()) } else { Err(format!("{} invariants do not hold", broken.len())) }
}

/// The admin commands: each prints what it made as JSON.
async fn admin(store: &Store, command: Command, output: Output) -> Result<(), String> {
    let ctx = Context::new(None, None);
    let out = match command {
        Command::Partner(PersonCommand::List(args)) => list_users(store, Some(UserKind::Partner), args).await,
        Command::Student(PersonCommand::List(args)) => list_users(store, Some(UserKind::Student), args).await,
        Command::User(UserCommand::List { kind, filter }) => {
            let kind = match kind.as_deref().map(|k| (k, UserKind::parse(k))) {
                None => None,
                Some((_, Some(k))) => Some(k),
                Some((k, None)) => return Err(format!("unknown kind {k:?}")),
            };
            list_users(store, kind, filter).await
        }
        Command::User(UserCommand::Show { id }) => {
            let found = store.read(classhub_store::ops::accounts::MyAccount { user: UserId(id) }).await;
            match found {
                Ok(Some((user, _))) => Ok(json!(classhub_admin::UserOut::from(user))),
                Ok(None) => return Err(format!("no user has id {id}")),
                Err(e) => Err(e),
            }
        }
        Command::User(UserCommand::Update { id, name, email }) => {
            update_user(store, ctx, id, UserPatch { name, disabled: None }, email).await?
        }
        Command::User(UserCommand::Disable { id }) => {
            update_user(store, ctx, id, UserPatch { name: None, disabled: Some(true) }, None).await?
        }
        Command::User(UserCommand::Enable { id }) => {
            update_user(store, ctx, id, UserPatch { name: None, disabled: Some(false) }, None).await?
        }
        Command::User(UserCommand::Delete { id }) => {
            store.write(DeleteUser { ctx, user: UserId(id) }).await.map(|()| json!({ "id": id, "deleted": true }))
        }
        Command::User(UserCommand::RotateToken { id }) => store
            .write(RotateToken { ctx, user: UserId(id) })
            .await
            .map(|(user, token)| json!({ "id": user.id, "token": token })),
        Command::Partner(PersonCommand::Create { name, email, password }) => {
            person(store, ctx, UserKind::Partner, name, email, password).await?
        }
        Command::Student(PersonCommand::Create { name, email, password }) => {
            person(store, ctx, UserKind::Student, name, email, password).await?
        }
        Command::User(UserCommand::Password { id, password }) => set_password(store, ctx, id, password).await?,
        Command::Model(ModelCommand::Create {
            name,
            provider,
            modality,
            supports_parallel,
            default_pricing,
            inactive,
        }) => {
            let mut model = classhub_core::catalog::NewModel::named(name, provider);
            model.modality = classhub_core::catalog::Modality::parse(&modality)
                .ok_or_else(|| format!("unknown modality {modality:?}: chat, embedding, stt, image, tts or rerank"))?;
            model.supports_parallel = supports_parallel;
            model.is_active = !inactive;
            model.default_pricing = match default_pricing.map(|p| serde_json::from_str::<serde_json::Value>(&p)) {
                None => None,
                Some(Ok(serde_json::Value::Object(m))) => Some(m),
                Some(_) => return Err("--default-pricing must be a JSON object".into()),
            };
            store.write(CreateModel { ctx, model }).await.map(|m| {
                json!({ "id": m.id, "name": m.name, "provider": m.provider, "modality": m.modality,
                        "supports_parallel": m.supports_parallel, "default_pricing": m.default_pricing,
                        "is_active": m.is_active })
            })
        }
        Command::Course(CourseCommand::Create { partner_id, title, course_key, status, description }) => {
            let status = course_status(status.as_deref())?;
            let mut op = CreateCourse::titled(ctx, UserId(partner_id), title);
            (op.patch.course_key, op.patch.status, op.patch.description) = (course_key, status, description);
            store.write(op).await.map(|c| {
                json!({ "id": c.id, "partner_id": c.partner_id, "title": c.fields.title,
                        "course_key": c.fields.course_key, "status": c.fields.status })
            })
        }
        Command::Course(CourseCommand::List { partner_id, status, query, page }) => {
            let filter = CourseFilter { status, search: query.as_deref().map(fold) };
            let page = page.request();
            store.read(ListCourses { partner_id: partner_id.map(UserId), filter, page }).await.map(|found| {
                let items: Vec<classhub_admin::AdminCourseOut> = found.items.into_iter().map(Into::into).collect();
                json!({ "items": items, "total": found.total, "limit": page.limit, "offset": page.offset })
            })
        }
        Command::Course(CourseCommand::Show { id }) => store
            .read(CourseById { course_id: CourseId(id) })
            .await
            .map(|c| json!(classhub_admin::AdminCourseOut::from(c))),
        Command::Course(CourseCommand::Update { id, title, course_key, status, description }) => {
            let status = course_status(status.as_deref())?;
            let patch = CoursePatch { title, course_key, status, description, ..CoursePatch::default() };
            match store.read(CourseById { course_id: CourseId(id) }).await {
                Ok(course) => store
                    .write(UpdateCourse { ctx, partner_id: course.partner_id, course_id: course.id, patch })
                    .await
                    .map(|c| json!(classhub_admin::AdminCourseOut::from(c))),
                Err(e) => Err(e),
            }
        }
        Command::Course(CourseCommand::Delete { id }) => match store.read(CourseById { course_id: CourseId(id) }).await
        {
            Ok(course) => store
                .write(DeleteCourse { ctx, partner_id: course.partner_id, course_id: course.id })
                .await
                .map(|()| json!({ "id": id, "deleted": true })),
            Err(e) => Err(e),
        },
        Command::Model(ModelCommand::Show { id }) => {
            store.read(GetModel { id: ModelId(id) }).await.map(|m| json!(classhub_admin::AdminModelOut::from(m)))
        }
        Command::Model(ModelCommand::Update { id, name, provider, modality, active }) => {
            let modality = match modality.as_deref().map(|m| (m, classhub_core::catalog::Modality::parse(m))) {
                None => None,
                Some((_, Some(m))) => Some(m),
                Some((m, None)) => {
                    return Err(format!("unknown modality {m:?}: chat, embedding, stt, image, tts or rerank"));
                }
            };
            let patch = ModelPatch { name, provider, modality, is_active: active, ..ModelPatch::default() };
            store
                .write(UpdateModel { ctx, id: ModelId(id), patch })
                .await
                .map(|m| json!(classhub_admin::AdminModelOut::from(m)))
        }
        Command::Model(ModelCommand::Delete { id }) => {
            store.write(DeleteModel { ctx, id: ModelId(id) }).await.map(|()| json!({ "id": id, "deleted": true }))
        }
        Command::Model(ModelCommand::List { provider, modality, query, active, page }) => {
            let filter =
                ModelFilter { provider, modality, name_contains: query.as_deref().map(fold), only_active: active };
            let page = page.request();
            store.read(ListModels { filter, page }).await.map(|found| {
                let items: Vec<classhub_admin::AdminModelOut> = found.items.into_iter().map(Into::into).collect();
                json!({ "items": items, "total": found.total, "limit": page.limit, "offset": page.offset })
            })
        }
        Command::Token(TokenCommand::Revoke { token }) => {
            store.write(RevokeToken { ctx, token }).await.map(|()| json!({ "revoked": true }))
        }
        Command::Serve(_)
        | Command::Migrate
        | Command::Backup { .. }
        | Command::Restore { .. }
        | Command::Copy { .. }
        | Command::Check
        | Command::Cloudshare(_) => return Ok(()),
    };
    let out = out.map_err(|e| e.to_string())?;
    print(output, &out);
    Ok(())
}

/// `--status` of a course command.
fn course_status(status: Option<&str>) -> Result<Option<classhub_core::catalog::CourseStatus>, String> {
    match status.map(classhub_core::catalog::CourseStatus::parse) {
        None => Ok(None),
        Some(Some(s)) => Ok(Some(s)),
        Some(None) => Err("--status must be draft, active or archived".into()),
    }
}

/// Prints a command's result: the JSON document, or a table (a list's items as rows, an
/// object's fields as name/value rows).
fn print(output: Output, out: &serde_json::Value) {
    match output {
        Output::Json => println!("{out}"),
        Output::Table => println!("{}", crate::table::render(out)),
    }
}

async fn list_users(
    store: &Store,
    kind: Option<UserKind>,
    args: ListArgs,
) -> classhub_store::Result<serde_json::Value> {
    let filter = UserFilter { kind, query: args.query, disabled: args.disabled };
    let page = args.page.request();
    let found = store.read(ListUsers { filter, page }).await?;
    let items: Vec<classhub_admin::UserOut> = found.items.into_iter().map(Into::into).collect();
    Ok(json!({ "items": items, "total": found.total, "limit": page.limit, "offset": page.offset }))
}

async fn update_user(
    store: &Store,
    ctx: Context,
    id: i64,
    patch: UserPatch,
    email: Option<String>,
) -> Result<classhub_store::Result<serde_json::Value>, String> {
    Ok(match store.write(UpdateUser { ctx, user: UserId(id), patch, email }).await {
        Ok(Ok(user)) => Ok(json!(classhub_admin::UserOut::from(user))),
        Ok(Err(refusal)) => return Err(refusal.to_string()),
        Err(e) => Err(e),
    })
}

/// A password given to the CLI, hashed; an empty or overlong one is refused.
async fn password_hash(password: String) -> Result<String, String> {
    match classhub_core::account::check_password(&password) {
        Ok(Ok(())) => {}
        Ok(Err(refusal)) => return Err(refusal.to_string()),
        Err(problem) => return Err(format!("password: {problem}")),
    }
    tokio::task::spawn_blocking(move || classhub_core::password::hash(&password)).await.map_err(|e| e.to_string())?
}

async fn person(
    store: &Store,
    ctx: Context,
    kind: UserKind,
    name: String,
    email: String,
    password: Option<String>,
) -> Result<classhub_store::Result<serde_json::Value>, String> {
    let password_hash = match password {
        Some(p) => Some(password_hash(p).await?),
        None => None,
    };
    let op = CreatePerson { ctx, user: NewUser::named(kind, name, Some(email)), password_hash };
    Ok(match store.write(op).await {
        Ok(Ok((user, token))) => Ok(json!({ "id": user.id, "name": user.name, "email": user.email, "token": token })),
        Ok(Err(refusal)) => return Err(refusal.to_string()),
        Err(e) => Err(e),
    })
}

/// `classhub user password`: sets a partner's or student's password.
async fn set_password(
    store: &Store,
    ctx: Context,
    id: i64,
    password: Option<String>,
) -> Result<classhub_store::Result<serde_json::Value>, String> {
    let password = match password {
        Some(p) => p,
        None => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map_err(|e| format!("reading the password: {e}"))?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    let password_hash = password_hash(password).await?;
    Ok(match store.write(SetPassword { ctx, user: UserId(id), password_hash }).await {
        Ok(Ok(account)) => Ok(json!({ "id": id, "email": account.email, "password_set": true })),
        Ok(Err(refusal)) => return Err(refusal.to_string()),
        Err(e) => Err(e),
    })
}

fn project(text: &str) -> Result<ProjectId, String> {
    ids::decode(Kind::Project, text.trim()).map(ProjectId).ok_or_else(|| format!("{text:?} is not a project id (PR…)"))
}

/// The project and the entry of `kind` that `e` names.
fn entry(e: &EntryRef, kind: Kind) -> Result<(ProjectId, i64), String> {
    let id = ids::decode(kind, e.id.trim()).ok_or_else(|| format!("{:?} is not a {} id", e.id, kind.prefix()))?;
    Ok((project(&e.project)?, id))
}

async fn change_entry(
    store: &Store,
    ctx: Context,
    project: ProjectId,
    change: CatalogChange,
) -> Result<serde_json::Value, String> {
    let changed = store.write(UpdateCatalogEntry { ctx, project, change }).await.map_err(|e| e.to_string())?;
    Ok(json!(classhub_admin::AdminEntryOut::from(changed)))
}

async fn delete_entry(
    store: &Store,
    ctx: Context,
    project: ProjectId,
    entry: CatalogEntry,
) -> Result<serde_json::Value, String> {
    store.write(DeleteCatalogEntry { ctx, project, entry }).await.map_err(|e| e.to_string())?;
    Ok(json!({ "deleted": true }))
}

/// The CloudShare admin commands: each prints what it made as JSON, ids CloudShare-style.
async fn cloudshare(store: &Store, command: CloudshareCommand, key_path: &Path, output: Output) -> Result<(), String> {
    let ctx = Context::new(None, None);
    let err = |e: classhub_store::StoreError| e.to_string();
    let out = match command {
        CloudshareCommand::Project(ProjectCommand::List(page)) => {
            let page = page.request();
            let found = store.read(ListProjects { page }).await.map_err(err)?;
            let items: Vec<classhub_admin::AdminProjectOut> = found.items.into_iter().map(Into::into).collect();
            json!({ "items": items, "total": found.total, "limit": page.limit, "offset": page.offset })
        }
        CloudshareCommand::Project(ProjectCommand::Show { id }) => {
            let contents = store.read(ProjectDetail { project: project(&id)? }).await.map_err(err)?;
            json!(classhub_admin::AdminProjectDetailOut::from(contents))
        }
        CloudshareCommand::Project(ProjectCommand::Create(a)) => {
            let p = store.write(CreateProject { ctx, name: a.name }).await.map_err(err)?;
            json!({ "id": ids::encode(Kind::Project, p.id.0), "name": p.name })
        }
        CloudshareCommand::Project(ProjectCommand::Update { id, name, active }) => {
            let id = project(&id)?;
            let change = CatalogChange::Project(id, ProjectPatch { name, is_active: active });
            change_entry(store, ctx, id, change).await?
        }
        CloudshareCommand::Project(ProjectCommand::Delete { id }) => {
            let id = project(&id)?;
            delete_entry(store, ctx, id, CatalogEntry::Project(id)).await?
        }
        CloudshareCommand::Policy(EntryCommand::Update(a)) => {
            let (project, id) = entry(&a.entry, Kind::Policy)?;
            let patch = PolicyPatch { name: a.name, default_duration_minutes: a.default_duration_minutes };
            change_entry(store, ctx, project, CatalogChange::Policy(PolicyId(id), patch)).await?
        }
        CloudshareCommand::Blueprint(EntryCommand::Update(a)) => {
            let (project, id) = entry(&a.entry, Kind::Blueprint)?;
            let description = match (a.description, a.no_description) {
                (_, true) => Patch::Clear,
                (Some(d), false) => Patch::Set(d),
                (None, false) => Patch::Keep,
            };
            let patch = BlueprintPatch { name: a.name, description };
            change_entry(store, ctx, project, CatalogChange::Blueprint(BlueprintId(id), patch)).await?
        }
        CloudshareCommand::CustomField(EntryCommand::Update(a)) => {
            let (project, id) = entry(&a.entry, Kind::Field)?;
            let emptied = |v: Option<String>| match v {
                None => Patch::Keep,
                Some(v) if v.is_empty() => Patch::Clear,
                Some(v) => Patch::Set(v),
            };
            let patch = FieldPatch {
                name: a.name,
                order: a.order,
                kind: a.kind,
                is_required: a.required,
                regex: emptied(a.regex),
                default_value: emptied(a.default_value),
            };
            change_entry(store, ctx, project, CatalogChange::CustomField(CustomFieldId(id), patch)).await?
        }
        CloudshareCommand::Member(MemberCommand::Update { entry: e, can_instruct, can_manage }) => {
            let (project, id) = entry(&e, Kind::Member)?;
            let patch = MemberRightsPatch { can_instruct, can_manage };
            change_entry(store, ctx, project, CatalogChange::Member(ProjectMemberId(id), patch)).await?
        }
        CloudshareCommand::Policy(EntryCommand::Delete(e)) => {
            let (project, id) = entry(&e, Kind::Policy)?;
            delete_entry(store, ctx, project, CatalogEntry::Policy(PolicyId(id))).await?
        }
        CloudshareCommand::Blueprint(EntryCommand::Delete(e)) => {
            let (project, id) = entry(&e, Kind::Blueprint)?;
            delete_entry(store, ctx, project, CatalogEntry::Blueprint(BlueprintId(id))).await?
        }
        CloudshareCommand::CustomField(EntryCommand::Delete(e)) => {
            let (project, id) = entry(&e, Kind::Field)?;
            delete_entry(store, ctx, project, CatalogEntry::CustomField(CustomFieldId(id))).await?
        }
        CloudshareCommand::Member(MemberCommand::Remove(e)) => {
            let (project, id) = entry(&e, Kind::Member)?;
            delete_entry(store, ctx, project, CatalogEntry::Member(ProjectMemberId(id))).await?
        }
        CloudshareCommand::Policy(EntryCommand::Create(a)) => {
            let op = CreatePolicy {
                ctx,
                project: project(&a.project)?,
                name: a.name,
                default_duration_minutes: a.default_duration_minutes,
            };
            let p = store.write(op).await.map_err(err)?;
            json!({ "id": ids::encode(Kind::Policy, p.id.0), "name": p.name, "default_duration_minutes": p.default_duration_minutes })
        }
        CloudshareCommand::Blueprint(EntryCommand::Create(a)) => {
            let op = CreateBlueprint { ctx, project: project(&a.project)?, name: a.name, description: a.description };
            let b = store.write(op).await.map_err(err)?;
            json!({ "id": ids::encode(Kind::Blueprint, b.id.0), "name": b.name, "token": b.token })
        }
        CloudshareCommand::CustomField(EntryCommand::Create(a)) => {
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
        CloudshareCommand::Member(MemberCommand::RotateKey { id }) => {
            let secrets = server_key(store, key_path).await?;
            let (api_id, api_key) = store.write(RotateApiKey { ctx, user: UserId(id), secrets }).await.map_err(err)?;
            json!({ "id": id, "api_id": api_id, "api_key": api_key })
        }
        CloudshareCommand::Member(MemberCommand::Create(a)) => {
            let projects = a.projects.iter().map(|p| project(p)).collect::<Result<Vec<_>, _>>()?;
            let secrets = server_key(store, key_path).await?;
            let op = CreateProjectMember {
                ctx,
                name: a.name,
                email: a.email,
                projects,
                rights: MemberRights::new(a.can_instruct, a.can_manage),
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
    print(output, &out);
    Ok(())
}
