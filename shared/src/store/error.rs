//! What the store reports: facts about the tables (a claim someone holds, a quota reached, a
//! race lost, an outage, a damaged item), never request fields or status codes. The one
//! conversion into the wire's error, `From<StoreError>`, is in `crate::error`.

/// The kinds of uniqueness claim (see users.rs and rooms.rs): which one someone else holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimKind {
    Username,
    /// A third-party identity (login type, snsid).
    Sns,
    /// A phone verified by SMS.
    Phone,
    RoomAlias,
}

/// The send limits of SMS captchas (see captcha.rs), each with its own refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendLimit {
    /// A code went to the phone less than the resend interval ago, or every slot holds a live code.
    Resend,
    /// Sends from one source address in its window.
    Ip,
    /// Sends to one phone from one source address in its window.
    PhoneIp,
    /// Sends to one phone in its window.
    Phone,
    /// Sends of the whole API in the hour or the day.
    Global,
    /// Sends to one country calling code in the hour or the day.
    Country,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("{0:?} claim held by another record")]
    Taken(ClaimKind),
    /// The owner's set already holds `limit` rooms.
    #[error("room quota of {limit} reached")]
    RoomQuota { limit: u32 },
    /// The account a write belongs to was deleted (its tombstone written) meanwhile.
    #[error("owner account gone")]
    OwnerGone,
    /// An operator disabled the account: no session may be opened for it.
    #[error("account disabled")]
    AccountDisabled,
    /// A concurrent change won a race the caller may simply retry.
    #[error("concurrent modification")]
    Contended,
    /// DynamoDB failed or could not be reached; the full error chain, for the log.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    /// A stored item lacks an attribute its kind is always written with, or holds it in the
    /// wrong type. Key and attribute are already loggable (no phone, id or token hash).
    #[error("corrupt item {key}: attribute {attribute} missing or malformed")]
    Corrupt { key: String, attribute: String },
    /// An SMS send refused by `limit`, which reopens in `retry_after` seconds.
    #[error("send limit {limit:?} for {retry_after} s")]
    SendLimited { limit: SendLimit, retry_after: u64 },
    /// The phone's wrong-try budget is spent for `retry_after` seconds.
    #[error("captcha budget spent for {retry_after} s")]
    CaptchaLocked { retry_after: u64 },
    /// The phone's unexpired codes have had all their tries.
    #[error("captcha tries used up")]
    CaptchaTriesUsedUp,
    /// No live code matched: wrong, used, expired or dead.
    #[error("captcha refused")]
    CaptchaRefused,
}
