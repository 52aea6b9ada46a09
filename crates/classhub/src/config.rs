//! Command line and configuration. Every flag also reads `CLASSHUB_<FLAG>` from the
//! environment and `<flag> = …` from the TOML file named by `--config`; flags win over the
//! environment, which wins over the file.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "classhub",
    version,
    about = "Classes and rosters, spoken in the partner, CloudShare v3 and OCARIoT dialects"
)]
pub struct Cli {
    /// TOML file supplying any flag (`database-url = "…"`); flags and environment win.
    #[arg(long, env = "CLASSHUB_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// `sqlite://PATH` (created and migrated on start) or `postgres://…`.
    #[arg(long, env = "CLASSHUB_DATABASE_URL", default_value = "sqlite://classhub.db", global = true)]
    pub database_url: String,
    /// SQLite durability: `full` (an acknowledged write survives power loss) or `normal`
    /// (it survives a crash of the process, not of the machine).
    #[arg(long, env = "CLASSHUB_SQLITE_SYNCHRONOUS", value_enum, default_value_t = Synchronous::Full, global = true)]
    pub sqlite_synchronous: Synchronous,
    /// PostgreSQL: connections in this process's pool.
    #[arg(long, env = "CLASSHUB_PG_POOL_SIZE", default_value_t = 16, global = true)]
    pub pg_pool_size: usize,
    /// PostgreSQL: seconds to keep trying to reach the server at start, with back-off,
    /// before giving up (containers often start before their database); 0: try once.
    #[arg(long, env = "CLASSHUB_DATABASE_WAIT", default_value_t = 60, global = true,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub database_wait: u64,
    /// Key that seals secrets kept at rest (CloudShare API keys); created on first start.
    /// Default: next to the SQLite file (`classhub.db.key`), else `./classhub.key`. Every
    /// process sharing a database needs the same key.
    #[arg(long, env = "CLASSHUB_SECRET_KEY_FILE", global = true)]
    pub secret_key_file: Option<PathBuf>,
    /// How commands print what they did: JSON (one document) or a table for people.
    #[arg(long, value_enum, default_value_t = Output::Json, global = true)]
    pub output: Output,
    /// Log format.
    #[arg(long, env = "CLASSHUB_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Log filter (tracing `EnvFilter` syntax, e.g. `info` or `warn,classhub=debug`).
    #[arg(long, env = "CLASSHUB_LOG", default_value = "info", global = true)]
    pub log: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Synchronous {
    Normal,
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Json,
    Table,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API.
    Serve(Box<ServeArgs>),
    /// Create or migrate the database, then exit.
    Migrate,
    /// Copy the SQLite database to PATH, also while it is serving (SQLite's online backup),
    /// and its server key to PATH.key: a restore needs both. Never overwrites.
    Backup { path: PathBuf },
    /// Make --database-url (a SQLite file that must not exist yet) a copy of the backup at
    /// PATH, with its key (PATH.key) as this database's key; then migrate it and check the key.
    Restore { path: PathBuf },
    /// Copy a SQLite database (`--from sqlite://PATH`) into an empty PostgreSQL database
    /// (`--to postgres://…`): every table, ids and sealed secrets as they are, in one
    /// transaction (a failed copy leaves the target empty), verified by row counts and
    /// sample rows before it commits. The PostgreSQL deployment then needs the SQLite
    /// database's key file (`--secret-key-file`).
    Copy {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
    },
    /// Verify the database's invariants (seat counts equal students, seats within capacity,
    /// uses within limits, no duplicate names or emails); prints them and fails if any is
    /// broken.
    Check,
    /// Manage partners (instructors).
    #[command(subcommand)]
    Partner(PersonCommand),
    /// Manage students.
    #[command(subcommand)]
    Student(PersonCommand),
    /// Manage the AI model catalog.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Manage courses.
    #[command(subcommand)]
    Course(CourseCommand),
    /// Manage bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage partners' and students' accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage CloudShare projects, policies, blueprints, custom fields and members.
    #[command(subcommand)]
    Cloudshare(CloudshareCommand),
}

#[derive(Debug, Subcommand)]
pub enum CloudshareCommand {
    /// Manage projects.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Manage a project's policies.
    #[command(subcommand)]
    Policy(EntryCommand<PolicyArgs, PolicyUpdate>),
    /// Manage a project's blueprints.
    #[command(subcommand)]
    Blueprint(EntryCommand<BlueprintArgs, BlueprintUpdate>),
    /// Manage a project's custom class fields.
    #[command(name = "custom-field", subcommand)]
    CustomField(EntryCommand<FieldArgs, FieldUpdate>),
    /// Manage project members (instructors and managers with API credentials).
    #[command(subcommand)]
    Member(MemberCommand),
}

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Create one; prints it as JSON.
    Create(ProjectArgs),
    /// List every project, in the order they were made.
    List(PageArgs),
    /// Show a project with its policies, blueprints, custom fields and members.
    Show {
        /// `PR…`.
        #[arg(long)]
        id: String,
    },
    /// Rename a project; `--active false` disables it (no new classes), `true` enables it.
    Update {
        /// `PR…`.
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        active: Option<bool>,
    },
    /// Delete a project with its whole catalog and memberships (refused while it has classes).
    Delete {
        /// `PR…`.
        #[arg(long)]
        id: String,
    },
}

/// An entry of a project's catalog.
#[derive(Debug, Args)]
pub struct EntryRef {
    /// The project (`PR…` id).
    #[arg(long)]
    pub project: String,
    /// The entry's id (`PO…`, `BP…`, `TF…`, `VP…`).
    #[arg(long)]
    pub id: String,
}

#[derive(Debug, Subcommand)]
pub enum EntryCommand<A: clap::Args, U: clap::Args> {
    /// Create one; prints it as JSON.
    Create(A),
    /// Change one; prints it as JSON.
    Update(U),
    /// Delete one (a policy or blueprint only while no class uses it).
    Delete(EntryRef),
}

#[derive(Debug, Args)]
pub struct PolicyUpdate {
    #[command(flatten)]
    pub entry: EntryRef,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub default_duration_minutes: Option<i64>,
}

#[derive(Debug, Args)]
pub struct BlueprintUpdate {
    #[command(flatten)]
    pub entry: EntryRef,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long, conflicts_with = "no_description")]
    pub description: Option<String>,
    /// Remove the description.
    #[arg(long)]
    pub no_description: bool,
}

#[derive(Debug, Args)]
pub struct FieldUpdate {
    #[command(flatten)]
    pub entry: EntryRef,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub order: Option<i64>,
    #[arg(long = "type")]
    pub kind: Option<i64>,
    #[arg(long)]
    pub required: Option<bool>,
    /// A pattern values must match; an empty one removes it.
    #[arg(long)]
    pub regex: Option<String>,
    /// An empty one removes it.
    #[arg(long)]
    pub default_value: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Create one; prints it as JSON, with its API key (shown only now).
    Create(MemberArgs),
    /// Replace a member's API keys with a new one (printed once); the old ones stop working.
    RotateKey {
        /// The member's user id (`classhub user list --kind project_member`).
        #[arg(long)]
        id: i64,
    },
    /// Change a member's rights in a project (`--id` is the member's `VP…` id there).
    Update {
        #[command(flatten)]
        entry: EntryRef,
        #[arg(long)]
        can_instruct: Option<bool>,
        /// A manager always instructs as well.
        #[arg(long)]
        can_manage: Option<bool>,
    },
    /// Take a member out of a project; the person stays (`classhub user`).
    Remove(EntryRef),
}

#[derive(Debug, Args)]
pub struct ProjectArgs {
    #[arg(long)]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// The project (`PR…` id).
    #[arg(long)]
    pub project: String,
    #[arg(long)]
    pub name: String,
    #[arg(long, default_value_t = 120)]
    pub default_duration_minutes: i64,
}

#[derive(Debug, Args)]
pub struct BlueprintArgs {
    #[arg(long)]
    pub project: String,
    #[arg(long)]
    pub name: String,
    #[arg(long)]
    pub description: Option<String>,
}

#[derive(Debug, Args)]
pub struct FieldArgs {
    #[arg(long)]
    pub project: String,
    #[arg(long)]
    pub name: String,
    #[arg(long, default_value_t = 1)]
    pub order: i64,
    #[arg(long = "type", default_value_t = 0)]
    pub kind: i64,
    #[arg(long)]
    pub required: bool,
    #[arg(long)]
    pub regex: Option<String>,
    #[arg(long)]
    pub default_value: Option<String>,
}

#[derive(Debug, Args)]
pub struct MemberArgs {
    #[arg(long)]
    pub name: String,
    #[arg(long)]
    pub email: String,
    /// Projects (`PR…` ids), repeatable.
    #[arg(long = "project", required = true)]
    pub projects: Vec<String>,
    /// Whether the member can instruct (create and run classes).
    #[arg(long)]
    pub can_instruct: bool,
    /// The member manages the projects: may also create policies (implies --can-instruct).
    #[arg(long)]
    pub can_manage: bool,
}

impl Cli {
    /// Where the secret key lives: the flag, else beside the SQLite file, else the
    /// working directory.
    pub fn secret_key_path(&self) -> PathBuf {
        self.secret_key_path_of(&self.database_url)
    }

    /// Where the secret key of the database at `url` lives.
    pub fn secret_key_path_of(&self, url: &str) -> PathBuf {
        if let Some(p) = &self.secret_key_file {
            return p.clone();
        }
        match url.strip_prefix("sqlite://") {
            Some(db) if !db.is_empty() => PathBuf::from(format!("{db}.key")),
            _ => PathBuf::from("classhub.key"),
        }
    }
}

/// Which users a list shows, and which page of them.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Only users whose name, email or login name contains this text (ignoring case).
    #[arg(long)]
    pub query: Option<String>,
    /// Only disabled users (true) or enabled ones (false).
    #[arg(long)]
    pub disabled: Option<bool>,
    #[command(flatten)]
    pub page: PageArgs,
}

#[derive(Debug, Subcommand)]
pub enum PersonCommand {
    /// List them, in id order.
    List(ListArgs),
    /// Create one; prints its id and bearer token (shown only now) as JSON.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
        /// Gives them an account: they sign in with their email and this password
        /// (`POST /user/login`). The email must not be another account's.
        #[arg(long)]
        password: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// List users of every kind, in id order.
    List {
        /// admin, partner, student, educator, health_professional, child, family,
        /// application, project_member or class_student.
        #[arg(long)]
        kind: Option<String>,
        #[command(flatten)]
        filter: ListArgs,
    },
    /// Show a user.
    Show {
        #[arg(long)]
        id: i64,
    },
    /// Rename a user, or change a partner's or student's email (their account's too).
    Update {
        #[arg(long)]
        id: i64,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        email: Option<String>,
    },
    /// Disable a user: their tokens, API keys and passwords stop working.
    Disable {
        #[arg(long)]
        id: i64,
    },
    /// Enable a disabled user again.
    Enable {
        #[arg(long)]
        id: i64,
    },
    /// Delete a user: they leave their classes; the classes they own go too.
    Delete {
        #[arg(long)]
        id: i64,
    },
    /// Replace a user's API tokens with a new one, printed once.
    RotateToken {
        #[arg(long)]
        id: i64,
    },
    /// Set a partner's or student's password (making their account, with their email, if
    /// they have none), ending their sign-in sessions (API tokens stay). Without --password
    /// it is read from the first line of standard input.
    Password {
        #[arg(long)]
        id: i64,
        #[arg(long)]
        password: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Add a model; prints it as JSON.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        provider: String,
        /// `chat`, `embedding`, `stt`, `image`, `tts` or `rerank`.
        #[arg(long, default_value = "chat")]
        modality: String,
        #[arg(long)]
        supports_parallel: bool,
        /// Prices, a JSON object; the cost estimate reads `daily_fee_per_student` (KRW per
        /// student and day), e.g. '{"daily_fee_per_student": "1500"}'.
        #[arg(long)]
        default_pricing: Option<String>,
        /// Add the model inactive (`GET /models` lists active models).
        #[arg(long)]
        inactive: bool,
    },
    /// Show a model.
    Show {
        #[arg(long)]
        id: i64,
    },
    /// Change a model; `--active false` disables it (out of the class form), `true` enables it.
    Update {
        #[arg(long)]
        id: i64,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        provider: Option<String>,
        /// `chat`, `embedding`, `stt`, `image`, `tts` or `rerank`.
        #[arg(long)]
        modality: Option<String>,
        #[arg(long)]
        active: Option<bool>,
    },
    /// Delete a model; classes that name it stay, without it.
    Delete {
        #[arg(long)]
        id: i64,
    },
    /// List the model catalog (inactive models too, unless --active).
    List {
        #[arg(long)]
        provider: Option<String>,
        #[arg(long)]
        modality: Option<String>,
        /// Names containing this text (ignoring case).
        #[arg(long)]
        query: Option<String>,
        #[arg(long)]
        active: bool,
        #[command(flatten)]
        page: PageArgs,
    },
}

/// Which page of a list.
#[derive(Debug, Clone, Copy, Args)]
pub struct PageArgs {
    /// Entries on the page (1 to 1000).
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    #[arg(long, default_value_t = 0)]
    pub offset: u64,
}

impl PageArgs {
    pub fn request(self) -> classhub_core::page::PageRequest {
        classhub_core::page::PageRequest { limit: self.limit.clamp(1, 1000), offset: self.offset }
    }
}

#[derive(Debug, Subcommand)]
pub enum CourseCommand {
    /// Create a course of a partner; prints it as JSON.
    Create {
        #[arg(long)]
        partner_id: i64,
        #[arg(long)]
        title: String,
        /// Unique among the partner's courses; `course-N` when not given.
        #[arg(long)]
        course_key: Option<String>,
        /// `draft` (the default), `active` or `archived`.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// List every partner's courses, newest first.
    List {
        #[arg(long)]
        partner_id: Option<i64>,
        /// `draft`, `active` or `archived`.
        #[arg(long)]
        status: Option<String>,
        /// Titles or keys containing this text (ignoring case).
        #[arg(long)]
        query: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show a course.
    Show {
        #[arg(long)]
        id: i64,
    },
    /// Change a course (`--status archived` takes it out of use).
    Update {
        #[arg(long)]
        id: i64,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        course_key: Option<String>,
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a course; its classes stay, without a course.
    Delete {
        #[arg(long)]
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Revoke a bearer token.
    Revoke {
        #[arg(long)]
        token: String,
    },
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Export each request's span to an OpenTelemetry collector over OTLP/HTTP (protobuf):
    /// its base URL, e.g. `http://127.0.0.1:4318` (spans go to `/v1/traces` under it).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<url::Url>,
    /// Address of the API.
    #[arg(long, env = "CLASSHUB_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Seed demo data into an empty database and print ready-to-paste curl commands.
    #[arg(long, env = "CLASSHUB_DEMO")]
    pub demo: bool,
    /// Enables the admin API for this bearer token; without it the admin API answers 404.
    #[arg(long, env = "CLASSHUB_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Base URL used in links; defaults to http://<listen>.
    #[arg(long, env = "CLASSHUB_PUBLIC_BASE_URL")]
    pub public_base_url: Option<String>,
    /// Separate address serving Prometheus metrics at /metrics.
    #[arg(long, env = "CLASSHUB_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// PEM certificate chain: serve the API over HTTPS (with --tls-key).
    #[arg(long, env = "CLASSHUB_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "CLASSHUB_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Largest allowed difference between a cs_sha1 timestamp and this server's clock, in seconds.
    #[arg(long, env = "CLASSHUB_SIGNATURE_SKEW", default_value_t = 60)]
    pub signature_skew: u64,
    /// Failed cs_sha1 authentications allowed per API id and per address within the window (then 429).
    #[arg(long, env = "CLASSHUB_SIGNATURE_FAILURE_LIMIT", default_value_t = 20)]
    pub signature_failure_limit: u32,
    /// The window of that limit, in seconds.
    #[arg(long, env = "CLASSHUB_SIGNATURE_FAILURE_WINDOW", default_value_t = 600)]
    pub signature_failure_window: u64,
    /// Deliver emails (invitations, sign-up codes) through this SMTP server (`smtp://host:25`, `smtps://user:pass@host`).
    #[arg(long, env = "CLASSHUB_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Without --smtp-url, write emails as .eml files here.
    #[arg(long, env = "CLASSHUB_MAIL_DIR", default_value = "mail")]
    pub mail_dir: PathBuf,
    /// Sender address of emails.
    #[arg(long, env = "CLASSHUB_MAIL_FROM", default_value = "classhub <noreply@classhub.invalid>")]
    pub mail_from: String,
    /// Password of the OCARIoT `admin` user; without it that user cannot log in.
    #[arg(long, env = "CLASSHUB_OCARIOT_ADMIN_PASSWORD", hide_env_values = true)]
    pub ocariot_admin_password: Option<String>,
    /// File holding the key that signs OCARIoT tokens: a PEM RSA private key (RS256) or a
    /// secret of at least 32 bytes (HS256). Default: an RSA key made on first start and kept
    /// in the database sealed with the server key (shared by every process).
    #[arg(long, env = "CLASSHUB_JWT_KEY_FILE")]
    pub jwt_key_file: Option<PathBuf>,
    /// Write the public key of OCARIoT tokens (PEM) here on start, for an API gateway that
    /// checks them (it is also served as a JWKS document at /.well-known/jwks.json).
    #[arg(long, env = "CLASSHUB_JWT_PUBLIC_KEY_OUT")]
    pub jwt_public_key_out: Option<PathBuf>,
    /// Failed OCARIoT logins allowed per username and per address within the window (then 429).
    #[arg(long, env = "CLASSHUB_LOGIN_FAILURE_LIMIT", default_value_t = 10)]
    pub login_failure_limit: u32,
    /// The window of that limit, in seconds.
    #[arg(long, env = "CLASSHUB_LOGIN_FAILURE_WINDOW", default_value_t = 600)]
    pub login_failure_window: u64,
    /// Failed partner-API sign-ins (`POST /user/login`) allowed per email and per address
    /// within the window (then 429).
    #[arg(long, env = "CLASSHUB_ACCOUNT_LOGIN_FAILURE_LIMIT", default_value_t = 10)]
    pub account_login_failure_limit: u32,
    /// The window of that limit, in seconds.
    #[arg(long, env = "CLASSHUB_ACCOUNT_LOGIN_FAILURE_WINDOW", default_value_t = 600)]
    pub account_login_failure_window: u64,
    /// Sign-up verification codes sent per email and per address within the window (then 429).
    #[arg(long, env = "CLASSHUB_EMAIL_CODE_LIMIT", default_value_t = 5)]
    pub email_code_limit: u32,
    /// The window of that limit, in seconds.
    #[arg(long, env = "CLASSHUB_EMAIL_CODE_WINDOW", default_value_t = 600)]
    pub email_code_window: u64,
    /// How long a partner-API sign-in's access token (`POST /user/login`, a refresh) lasts,
    /// in seconds (60 s..366 days); then it answers 401 until refreshed. GrowFit's front end
    /// never refreshes: this is how long it stays signed in. API tokens do not expire.
    #[arg(long, env = "CLASSHUB_SESSION_TTL", default_value_t = 8 * 3600,
          value_parser = clap::value_parser!(u64).range(60..=TTL_MAX_SECS))]
    pub session_ttl: u64,
    /// How long the refresh token issued with it may be exchanged, once, for a new pair, in
    /// seconds (60 s..366 days).
    #[arg(long, env = "CLASSHUB_REFRESH_TTL", default_value_t = 7 * 24 * 3600,
          value_parser = clap::value_parser!(u64).range(60..=TTL_MAX_SECS))]
    pub refresh_ttl: u64,
    /// Proxies (addresses or networks, comma-separated) whose `X-Forwarded-For` names the
    /// client: throttles then count the client's address, not the proxy's. Default: none,
    /// the TCP peer is the client.
    #[arg(long = "trusted-proxies", env = "CLASSHUB_TRUSTED_PROXIES", value_delimiter = ',', value_parser = network)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// An origin (`https://app.example.com`) whose pages may call the API from a browser;
    /// repeatable, or comma-separated; `*` allows any. Default: none (no CORS headers).
    #[arg(long = "cors-origin", env = "CLASSHUB_CORS_ORIGIN", value_delimiter = ',', value_parser = origin)]
    pub cors_origin: Vec<http::HeaderValue>,
    /// Largest request body accepted, in bytes (413 beyond).
    #[arg(long, env = "CLASSHUB_BODY_LIMIT", default_value_t = 1024 * 1024)]
    pub body_limit: usize,
    /// Largest request head (request line and headers) accepted, in bytes: HTTP/1.1 answers
    /// 431 beyond, HTTP/2 refuses the stream. At least 8192 (hyper's smallest buffer).
    #[arg(long, env = "CLASSHUB_MAX_HEADER_BYTES", default_value_t = 64 * 1024,
          value_parser = clap::value_parser!(u32).range(8192..=16 * 1024 * 1024))]
    pub max_header_bytes: u32,
    /// Longest a client may take to send a request's headers, in seconds; slower
    /// connections are closed (slow-client protection). Also bounds the TLS handshake.
    #[arg(long, env = "CLASSHUB_HEADER_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout: u64,
    /// Longest a request may take, in seconds (408 beyond).
    #[arg(long, env = "CLASSHUB_REQUEST_TIMEOUT", default_value_t = 30)]
    pub request_timeout: u64,
    /// How long shutdown waits for requests in flight, in seconds.
    #[arg(long, env = "CLASSHUB_SHUTDOWN_GRACE", default_value_t = 10)]
    pub shutdown_grace: u64,
    /// Length of generated invite codes (6..=16). Codes made earlier with another length
    /// stay redeemable.
    #[arg(long, env = "CLASSHUB_INVITE_CODE_LENGTH", default_value_t = 6,
          value_parser = clap::value_parser!(u8).range(6..=16))]
    pub invite_code_length: u8,
    /// Failed invite-code redemptions allowed per student and per client address within
    /// the window (then 429).
    #[arg(long, env = "CLASSHUB_REDEEM_FAILURE_LIMIT", default_value_t = 10)]
    pub redeem_failure_limit: u32,
    /// The window of that limit, in seconds.
    #[arg(long, env = "CLASSHUB_REDEEM_FAILURE_WINDOW", default_value_t = 600)]
    pub redeem_failure_window: u64,
}

/// The longest `--session-ttl` and `--refresh-ttl`: 366 days.
const TTL_MAX_SECS: u64 = 366 * 24 * 3600;

impl ServeArgs {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout.max(1))
    }

    /// The connection limits of the listener.
    pub fn connection_limits(&self) -> crate::server::ConnectionLimits {
        crate::server::ConnectionLimits {
            header_timeout: Duration::from_secs(self.header_timeout),
            max_header_bytes: self.max_header_bytes,
        }
    }

    /// The base of links: `--public-base-url`, else the listening address with the
    /// scheme it is served with.
    pub fn public_base_url(&self, addr: std::net::SocketAddr) -> String {
        match &self.public_base_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None if self.tls_cert.is_some() => format!("https://{addr}"),
            None => format!("http://{addr}"),
        }
    }
}

/// A web origin, `scheme://host[:port]` as browsers send it in `Origin`, or `*`.
fn origin(text: &str) -> Result<http::HeaderValue, String> {
    let text = text.trim();
    let bad = || format!("{text:?} is not an origin (https://app.example.com, or *)");
    if text != "*" {
        let url = url::Url::parse(text).map_err(|_| bad())?;
        let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none() && !text.ends_with('/');
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || !bare {
            return Err(bad());
        }
    }
    http::HeaderValue::from_str(text).map_err(|_| bad())
}

/// A network (`10.0.0.0/8`) or one address (`10.0.0.1`).
fn network(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{text:?} is neither an address nor a network (10.0.0.0/8)"))
}

/// Parses the command line, filling flags not given on it or in the environment from the
/// `--config` file.
pub fn parse_from<I, T>(args: I) -> Result<Cli, ConfigError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let mut command = Cli::command();
    if let Some(path) = config_path(&args) {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ConfigError::File(format!("reading {}: {e}", path.display())))?;
        let table: toml::Table = text.parse().map_err(|e| ConfigError::File(format!("{}: {e}", path.display())))?;
        command =
            with_file_defaults(command, &table).map_err(|e| ConfigError::File(format!("{}: {e}", path.display())))?;
    }
    let matches = command.try_get_matches_from(args)?;
    Ok(Cli::from_arg_matches(&matches)?)
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Bad flags, or `--help` / `--version` (which clap prints and exits for).
    #[error(transparent)]
    Args(#[from] clap::Error),
    #[error("configuration file {0}")]
    File(String),
}

fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let s = a.to_string_lossy();
        if s == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(p) = s.strip_prefix("--config=") {
            return Some(PathBuf::from(p));
        }
    }
    std::env::var_os("CLASSHUB_CONFIG").map(PathBuf::from)
}

/// Makes the file's values the defaults of the flags they name (in the root command and
/// `serve`). Unknown keys are errors, so that typos do not pass silently.
fn with_file_defaults(mut command: clap::Command, table: &toml::Table) -> Result<clap::Command, String> {
    for (key, value) in table {
        let id = key.replace('-', "_");
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => return Err(format!("{key}: unsupported value {other}")),
        };
        let in_root = command.get_arguments().any(|a| a.get_id() == id.as_str());
        let in_serve =
            command.find_subcommand("serve").is_some_and(|s| s.get_arguments().any(|a| a.get_id() == id.as_str()));
        if !in_root && !in_serve {
            return Err(format!("unknown setting {key:?}"));
        }
        if in_root {
            command = command.mut_arg(id.as_str(), |a| a.default_value(text.clone()));
        }
        if in_serve {
            command = command.mut_subcommand("serve", |s| s.mut_arg(id.as_str(), |a| a.default_value(text)));
        }
    }
    Ok(command)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(cli: Cli) -> ServeArgs {
        match cli.command {
            Command::Serve(s) => *s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cors_origins_are_origins() {
        let args = serve(
            parse_from(["classhub", "serve", "--cors-origin", "http://a.example,https://b.example:8443"]).unwrap(),
        );
        assert_eq!(args.cors_origin, ["http://a.example", "https://b.example:8443"]);
        assert_eq!(serve(parse_from(["classhub", "serve", "--cors-origin", "*"]).unwrap()).cors_origin, ["*"]);
        for bad in ["http://a.example/", "http://a.example/app", "ftp://a.example", "a.example", "http://a.example?x"] {
            assert!(parse_from(["classhub", "serve", "--cors-origin", bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn file_fills_what_flags_do_not_give() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9999\"\nrequest-timeout = 5\ndatabase_url = \"sqlite://f.db\"\n")
            .unwrap();
        let f = file.to_str().unwrap();
        let cli = parse_from(["classhub", "--config", f, "serve"]).unwrap();
        assert_eq!(cli.database_url, "sqlite://f.db");
        let s = serve(cli);
        assert_eq!(s.listen.to_string(), "127.0.0.1:9999");
        assert_eq!(s.request_timeout, 5);
        let cli = parse_from(["classhub", "--config", f, "serve", "--listen", "127.0.0.1:1"]).unwrap();
        assert_eq!(serve(cli).listen.to_string(), "127.0.0.1:1");
    }

    #[test]
    fn unknown_settings_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        let err = parse_from(["classhub", "--config", file.to_str().unwrap(), "serve"]).unwrap_err().to_string();
        assert!(err.contains("unknown setting \"lisen\""), "{err}");
    }

    #[test]
    fn session_lifetimes_default_to_the_cores_and_are_bounded() {
        let s = serve(parse_from(["classhub", "serve"]).unwrap());
        let defaults = classhub_core::account::SessionTtl::default();
        assert_eq!(Duration::from_secs(s.session_ttl), defaults.access.unsigned_abs());
        assert_eq!(Duration::from_secs(s.refresh_ttl), defaults.refresh.unsigned_abs());
        for bad in [["--session-ttl", "59"], ["--refresh-ttl", "0"], ["--session-ttl", "31622401"]] {
            assert!(parse_from(["classhub", "serve", bad[0], bad[1]]).is_err(), "{bad:?}");
        }
        let s = serve(parse_from(["classhub", "serve", "--session-ttl", "900", "--refresh-ttl", "86400"]).unwrap());
        assert_eq!((s.session_ttl, s.refresh_ttl), (900, 86400));
    }

    #[test]
    fn invite_code_length_is_bounded() {
        assert!(parse_from(["classhub", "serve", "--invite-code-length", "5"]).is_err());
        let default = serve(parse_from(["classhub", "serve"]).unwrap()).invite_code_length;
        assert_eq!(usize::from(default), classhub_core::invite::CODE_LEN_DEFAULT);
        assert_eq!(
            serve(parse_from(["classhub", "serve", "--invite-code-length", "16"]).unwrap()).invite_code_length,
            16
        );
    }
}
