//! What an operator does to one account (API.md "Your sessions, your activity, your data";
//! docs/operator.md), each act through the same store functions the API uses, so that the
//! tool and the functions can never disagree on what a disabled, signed-out or deleted account
//! is. Every act answers one JSON object, the account as it is afterwards.

use serde_json::{json, Value};
use shared::config::Tables;
use shared::domain::User;
use shared::phone::Phone;
use shared::store::deletion::AccountState;
use shared::store::{Claim, StoreError};
use shared::validate::{self, Fields};
use shared::{clock, ApiError, Context};

/// Attempts of an act that lost a race to a concurrent change of the account (a profile save,
/// a login's epoch read): each reads the account afresh.
const ATTEMPTS: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Pk(u64),
    Username(String),
    /// A verified phone, as an app would send it (`139...` or `+<cc>...`).
    Phone(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Find(Lookup),
    Disable(u64),
    Enable(u64),
    /// Ends every session: all its tokens and refresh tokens die (a new token epoch).
    Signout(u64),
    Delete(u64),
}

/// The command line: a command, its account, and the deployed stack (`None`: the local one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub command: Command,
    pub stack: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}\n{USAGE}")]
    Usage(String),
    #[error("no account {0}")]
    NoAccount(String),
    #[error("account {0} is deleted")]
    Deleted(u64),
    #[error("the account kept changing; run the command again")]
    Contended,
    #[error("stack {0}")]
    Stack(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Api(#[from] ApiError),
}

impl AdminError {
    /// 1: the account is not there; 2: the command could not run (arguments, outage, race).
    pub fn exit_code(&self) -> u8 {
        match self {
            AdminError::NoAccount(_) | AdminError::Deleted(_) => 1,
            _ => 2,
        }
    }
}

pub const USAGE: &str = "usage: admin [--stack NAME] <command>\n  \
    find --pk N | --username NAME | --phone NUMBER\n  \
    disable --pk N\n  enable --pk N\n  signout --pk N\n  delete --pk N";

pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Invocation, AdminError> {
    let usage = |msg: &str| AdminError::Usage(msg.to_owned());
    let mut stack = None;
    let mut command = None;
    let mut lookup = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| usage(&format!("{arg} needs a value")));
        match arg.as_str() {
            "--stack" => stack = Some(value()?),
            "--pk" => {
                let raw = value()?;
                let pk = validate::parse_positive(&raw).ok_or_else(|| usage("--pk needs a positive number"))?;
                lookup = Some(Lookup::Pk(pk));
            }
            "--username" => lookup = Some(Lookup::Username(value()?)),
            "--phone" => lookup = Some(Lookup::Phone(value()?)),
            "find" | "disable" | "enable" | "signout" | "delete" if command.is_none() => command = Some(arg),
            other => return Err(usage(&format!("unexpected argument {other}"))),
        }
    }
    let command = command.ok_or_else(|| usage("no command"))?;
    let lookup = lookup.ok_or_else(|| usage("which account? --pk N"))?;
    let command = match (command.as_str(), lookup) {
        ("find", lookup) => Command::Find(lookup),
        ("disable", Lookup::Pk(pk)) => Command::Disable(pk),
        ("enable", Lookup::Pk(pk)) => Command::Enable(pk),
        ("signout", Lookup::Pk(pk)) => Command::Signout(pk),
        ("delete", Lookup::Pk(pk)) => Command::Delete(pk),
        (name, _) => return Err(usage(&format!("{name} takes --pk"))),
    };
    Ok(Invocation { command, stack })
}

pub async fn run(ctx: &Context, command: &Command) -> Result<Value, AdminError> {
    match command {
        Command::Find(lookup) => {
            let pk = find(ctx, lookup).await?;
            match ctx.store.account_state(pk).await? {
                Some(AccountState::Live(user)) => Ok(account(&user)),
                Some(AccountState::Deleted { .. }) => Ok(json!({"pk": pk.to_string(), "deleted": true})),
                None => Err(AdminError::NoAccount(format!("pk {pk}"))),
            }
        }
        Command::Disable(pk) => {
            change(ctx, *pk, |user| async move {
                if user.disabled_at.is_some() {
                    return Ok(user);
                }
                ctx.store.set_disabled(&user, Some(clock::now_unix())).await
            })
            .await
        }
        Command::Enable(pk) => {
            change(ctx, *pk, |user| async move {
                if user.disabled_at.is_none() {
                    return Ok(user);
                }
                ctx.store.set_disabled(&user, None).await
            })
            .await
        }
        Command::Signout(pk) => change(ctx, *pk, |user| async move { ctx.store.end_all_sessions(&user).await }).await,
        Command::Delete(pk) => delete(ctx, *pk).await,
    }
}

/// The pk of the account `lookup` names (a username or phone through its claim).
async fn find(ctx: &Context, lookup: &Lookup) -> Result<u64, AdminError> {
    match lookup {
        Lookup::Pk(pk) => Ok(*pk),
        Lookup::Username(raw) => {
            let fields = Fields::from_map([("username".to_owned(), Value::from(raw.as_str()))].into_iter().collect());
            let name = validate::username_key(&fields, "username")?;
            let creds = ctx.store.get_credentials(&name).await?;
            creds.map(|c| c.user_pk).ok_or_else(|| AdminError::NoAccount("with that username".into()))
        }
        Lookup::Phone(raw) => {
            let phone = Phone::parse(raw, &ctx.config.sms.allowed_countries)?;
            let owner = ctx.store.claim_owner(&Claim::phone(&phone)).await?;
            owner.ok_or_else(|| AdminError::NoAccount("with that verified phone".into()))
        }
    }
}

async fn live_user(ctx: &Context, pk: u64) -> Result<User, AdminError> {
    match ctx.store.account_state(pk).await? {
        Some(AccountState::Live(user)) => Ok(*user),
        Some(AccountState::Deleted { .. }) => Err(AdminError::Deleted(pk)),
        None => Err(AdminError::NoAccount(format!("pk {pk}"))),
    }
}

/// `act` on the account as read, read again and retried when it changed meanwhile.
async fn change<F, Fut>(ctx: &Context, pk: u64, act: F) -> Result<Value, AdminError>
where
    F: Fn(User) -> Fut,
    Fut: std::future::Future<Output = Result<User, StoreError>>,
{
    for _ in 0..ATTEMPTS {
        let user = live_user(ctx, pk).await?;
        match act(user).await {
            Ok(saved) => return Ok(account(&saved)),
            Err(StoreError::Contended) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(AdminError::Contended)
}

/// The store's deletion (store/deletion.rs), as AccountDelete does it after its
/// re-authentication: the tombstone and the claims in one transaction, then the rooms. Sign in
/// with Apple credentials are recorded as owed a revocation in that transaction; the retry of
/// owed revocations (social::apple) revokes them at Apple. A deleted account's rooms are
/// finished off again, so a deletion that died midway completes.
async fn delete(ctx: &Context, pk: u64) -> Result<Value, AdminError> {
    let mut owed = false;
    let mut pictures = Vec::new();
    for attempt in 0..=ATTEMPTS {
        if attempt == ATTEMPTS {
            return Err(AdminError::Contended);
        }
        let user = match ctx.store.account_state(pk).await? {
            Some(AccountState::Live(user)) => *user,
            Some(AccountState::Deleted { avatar_objects }) => {
                pictures = avatar_objects;
                break;
            }
            None => return Err(AdminError::NoAccount(format!("pk {pk}"))),
        };
        let apple = ctx.store.apple_credentials(pk).await?;
        let until = apple.map(|_| clock::now_unix() + ctx.config.sns.apple.revocation_retry.as_secs());
        match ctx.store.retire_account(&user, until).await {
            Ok(()) => {
                owed = until.is_some();
                pictures = user.avatar_objects.clone();
                break;
            }
            Err(StoreError::Contended) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    ctx.store.delete_owned_rooms(pk).await?;
    // The pictures too (PIPL), as AccountDelete erases them: the tombstone names them until gone.
    if !pictures.is_empty() {
        shared::avatars::erase(ctx, pk, &pictures).await?;
    }
    Ok(json!({"pk": pk.to_string(), "deleted": true, "apple_revocation_owed": owed}))
}

/// What the tool touches in a deployed stack, from its CloudFormation outputs.
#[derive(Debug, Clone)]
pub struct StackResources {
    pub tables: Tables,
    /// Where the account's pictures are, erased with it by `delete`.
    pub avatar_bucket: String,
}

/// The table and bucket names of deployed stack `stack`, from its CloudFormation outputs
/// (template.yaml `UsersTableName`, `TokensTableName`, `RoomsTableName`, `AvatarBucketName`),
/// with the operator's credentials.
pub async fn stack_resources(sdk: &aws_config::SdkConfig, stack: &str) -> Result<StackResources, AdminError> {
    let cfn = aws_sdk_cloudformation::Client::new(sdk);
    let out = cfn.describe_stacks().stack_name(stack).send().await.map_err(|e| {
        AdminError::Stack(format!("{stack}: {}", aws_sdk_cloudformation::error::DisplayErrorContext(e)))
    })?;
    let outputs = out.stacks().first().map(|s| s.outputs()).unwrap_or_default();
    let output = |key: &str| {
        outputs
            .iter()
            .find(|o| o.output_key() == Some(key))
            .and_then(|o| o.output_value())
            .map(str::to_owned)
            .ok_or_else(|| AdminError::Stack(format!("{stack} has no output {key}")))
    };
    Ok(StackResources {
        tables: Tables {
            users: output("UsersTableName")?,
            tokens: output("TokensTableName")?,
            rooms: output("RoomsTableName")?,
        },
        avatar_bucket: output("AvatarBucketName")?,
    })
}

/// What the operator sees of an account: no password hash, no token, and the verified phone
/// only by its last four digits (the output ends up in terminals and tickets).
pub fn account(user: &User) -> Value {
    let identities: Vec<&str> =
        user.claims.iter().filter_map(|id| id.split('#').next()).filter(|kind| *kind != "phone").collect();
    json!({
        "pk": user.pk.to_string(),
        "username": user.username,
        "login_type": user.login_type,
        "date_joined": user.date_joined,
        "roomid": user.roomid.to_string(),
        "disabled": user.disabled_at.is_some(),
        "disabled_at": user.disabled_at,
        "token_epoch": user.token_epoch,
        "verified_phone": user.verified_phone().map(mask),
        "identities": identities,
    })
}

fn mask(e164: &str) -> String {
    let tail = e164.len().saturating_sub(4);
    format!("{}{}", "*".repeat(tail), &e164[tail..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn command_lines() {
        let inv = parse(args("disable --pk 7")).unwrap();
        assert_eq!(inv, Invocation { command: Command::Disable(7), stack: None });
        let inv = parse(args("--stack prod find --username alice")).unwrap();
        assert_eq!(inv.command, Command::Find(Lookup::Username("alice".into())));
        assert_eq!(inv.stack.as_deref(), Some("prod"));
        for bad in ["", "disable", "disable --pk 0", "disable --pk x", "signout --username a", "rm --pk 1", "find"] {
            assert!(matches!(parse(args(bad)), Err(AdminError::Usage(_))), "{bad}");
        }
    }

    #[test]
    fn the_phone_shows_only_its_last_digits() {
        assert_eq!(mask("+8613800138000"), "**********8000");
    }
}
