//! SMS captchas and their limits, kept in the token table (whose TTL attribute `expires_at`
//! lets DynamoDB delete them; expiry is always checked in code):
//! - `captcha#<e164>`: one item per phone holding its live codes and its try counts:
//!   - slots `c<i>` / `e<i>` / `m<i>` (i < `max_live_codes`): a code's HMAC, its expiry, and
//!     the value of `tries` at which it dies (`tries` when it was sent + `max_attempts`);
//!   - `tries`: tries at this phone's codes, ever (never goes down, so a code's death is final);
//!   - `budget_used` / `budget_end`: wrong tries in the current budget window, from all
//!     addresses (the phone's ceiling);
//!   - `b#<ip>`: wrong tries from one source IP in that window (the address's budget): one
//!     address spending its budget leaves the owner, elsewhere, their tries (issue 29). At most
//!     `wrong_try_ceiling` of them per window (each is created by a counted try); a send that
//!     renews the window removes them;
//!   - `sent_at`: the last send (the resend interval, and the compare-and-set of sends);
//!   - `k#<ip>`: until when `ip` is a known address of this phone (it logged in, reset, bound or
//!     deleted with one of its codes): its sends do not count toward the phone's ceiling, so
//!     other addresses cannot use the owner's allowance up (issue 29).
//! - `smslimit#ip#<ip>#<w>`, `smslimit#phoneip#<e164>#<ip>#<w>`, `smslimit#phone#<e164>#<w>`:
//!   fixed-window send counters.
//! - `smsbudget#all#<h|d>#<w>#<k>`, `smsbudget#cc#<cc>#<h|d>#<w>#<k>`: the hourly and daily
//!   budgets of the whole API and of each country calling code, in shards (see [`budget_shard`]).
//!
//! A send is reserved in one transaction (every counter, the resend interval and a free slot)
//! before SNS is called; a send SNS refused is given back. A try is counted in one conditional
//! write before the code is compared: the condition holds only while some code is unexpired
//! with tries left and neither the address's budget nor the phone's ceiling is spent, so N
//! parallel guesses get exactly the tries N sequential ones would. A matching code is consumed by the caller in the same
//! transaction as the login it grants.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use super::{build_err, key, n, s, unavailable, Attrs, Item, LinkedWrite, Store};
use super::{SendLimit, StoreError};
use crate::config::SmsConfig;

/// Attempts at a single write that lost to a transaction on the same item.
const CONFLICT_RETRIES: u32 = 5;

fn captcha_id(phone: &str) -> String {
    format!("captcha#{phone}")
}

/// The attribute counting `ip`'s wrong tries at a phone's codes in the current window.
fn ip_budget(ip: &str) -> String {
    format!("{IP_BUDGET_PREFIX}{ip}")
}

const IP_BUDGET_PREFIX: &str = "b#";

/// The attribute holding until when `ip` is a known address of a phone.
fn known_address(ip: &str) -> String {
    format!("{KNOWN_PREFIX}{ip}")
}

const KNOWN_PREFIX: &str = "k#";

/// Shards of one budget window at most. A budget counter is written by every send of the API
/// (or of a country) inside its transaction: one item would serialise them all (transactions on
/// one item conflict) and cap at ~1,000 writes/s (docs/capacity.md).
const BUDGET_SHARDS: u32 = 16;

/// Sends per shard below which a budget is not split further.
const BUDGET_SHARD_MIN: u32 = 100;

/// The shard `pick` lands on in a budget of `limit` sends per window, and that shard's share:
/// one shard per 100 sends, at most [`BUDGET_SHARDS`], so a small budget is one exact item (too
/// few writes per window to be hot) and a large one spreads its writes. Shard k holds
/// limit / S sends, the first limit % S one more: the shares add up to the limit exactly.
fn budget_shard(limit: u32, pick: u32) -> (u32, u32) {
    let shards = (limit / BUDGET_SHARD_MIN).clamp(1, BUDGET_SHARDS);
    let k = pick % shards;
    (k, limit / shards + u32::from(k < limit % shards))
}

fn random_pick() -> u32 {
    let mut b = [0u8; 4];
    // A pick only spreads writes: without the OS generator, shard 0 is as correct.
    let _ = getrandom::fill(&mut b);
    u32::from_le_bytes(b)
}
fn window(now: u64, length: u64) -> (u64, u64) {
    let length = length.max(1);
    let index = now / length;
    (index, (index + 1) * length)
}

/// One live-code slot as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    code_hash: String,
    expires_at: u64,
    dies_at_tries: u64,
}

/// The phone's captcha item as read.
#[derive(Debug, Clone, Default)]
struct Phone {
    exists: bool,
    slots: Vec<Option<Slot>>,
    tries: u64,
    budget_used: u64,
    budget_end: u64,
    sent_at: u64,
    /// The `b#<ip>` attributes of the current window, removed when a send renews it.
    ip_budgets: Vec<String>,
    /// The `k#<ip>` attributes and until when each address is known.
    known: Vec<(String, u64)>,
}

impl Phone {
    /// `key` is the phone's item key (attributes returned by a write do not carry it). Once
    /// `tries` exists, the first send has written `sent_at` and the budget too, and every
    /// stored code has its expiry and its death.
    fn read(item: Option<&Item>, slots: u32, key: &str) -> Result<Self, StoreError> {
        let Some(item) = item else { return Ok(Phone { slots: vec![None; slots as usize], ..Phone::default() }) };
        // Every item this code writes has `tries`; anything else is treated as absent.
        if !item.contains_key("tries") {
            return Ok(Phone { slots: vec![None; slots as usize], ..Phone::default() });
        }
        let a = Attrs::returned_by(item, key);
        let slots = (0..slots)
            .map(|i| {
                a.opt_s(&format!("c{i}"))?
                    .map(|code_hash| {
                        Ok(Slot {
                            code_hash,
                            expires_at: a.n(&format!("e{i}"))?,
                            dies_at_tries: a.n(&format!("m{i}"))?,
                        })
                    })
                    .transpose()
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Phone {
            exists: true,
            slots,
            tries: a.n("tries")?,
            // A code used after a send renewed the budget gives its try back below zero.
            budget_used: a.count("budget_used")?,
            budget_end: a.n("budget_end")?,
            sent_at: a.n("sent_at")?,
            ip_budgets: item.keys().filter(|k| k.starts_with(IP_BUDGET_PREFIX)).cloned().collect(),
            known: item
                .keys()
                .filter(|k| k.starts_with(KNOWN_PREFIX))
                .map(|k| Ok((k.clone(), a.n(k)?)))
                .collect::<Result<_, StoreError>>()?,
        })
    }

    /// Slots whose code can still be tried at `now` once `tries` tries have been counted.
    fn live(&self, now: u64, tries: u64) -> impl Iterator<Item = (usize, &Slot)> {
        self.slots.iter().enumerate().filter_map(move |(i, s)| {
            s.as_ref().filter(|s| s.expires_at > now && tries < s.dies_at_tries).map(|s| (i, s))
        })
    }
}

/// A new code to store and send.
pub struct NewCode<'a> {
    pub phone: &'a str,
    /// The phone's country calling code (its budget).
    pub country: &'a str,
    pub source_ip: &'a str,
    pub code_hash: String,
    pub now: u64,
}

/// Where a reserved send went, so that it can be given back.
pub struct Reserved {
    /// The counters taken, to give back.
    counters: Vec<String>,
    slot: usize,
    previous_sent_at: u64,
    /// The send created the phone's item: giving it back deletes it.
    created: bool,
}

/// A code that matched: consuming it is a conditional write the caller puts in the same
/// transaction as the login it grants.
pub struct Matched {
    pub consume: LinkedWrite,
}

/// One fixed-window send counter a send takes.
struct WindowLimit {
    id: String,
    limit: u32,
    end: u64,
    kind: SendLimit,
}

impl Store {
    fn window_counter(
        &self,
        id: String,
        delta: i64,
        limit: Option<(u32, u64)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.tables.tokens)
            .set_key(Some(key(id)))
            .expression_attribute_names("#c", "count")
            .expression_attribute_values(":d", AttributeValue::N(delta.to_string()));
        update = match limit {
            Some((limit, window_end)) => update
                .update_expression("ADD #c :d SET expires_at = :exp")
                .condition_expression("attribute_not_exists(#c) OR #c < :limit")
                .expression_attribute_values(":limit", n(u64::from(limit)))
                .expression_attribute_values(":exp", n(window_end)),
            None => update.update_expression("ADD #c :d").condition_expression("attribute_exists(#c)"),
        };
        Ok(TransactWriteItem::builder().update(update.build().map_err(build_err)?).build())
    }

    /// The send counters a send to `phone` from `ip` at `now` takes, each with its limit, the
    /// end of its window and the limit its refusal names. A known address's sends do not count
    /// toward the phone's ceiling; `pick` chooses the budgets' shards.
    fn send_limits(&self, code: &NewCode<'_>, cfg: &SmsConfig, known: bool, pick: u32) -> Vec<WindowLimit> {
        let (ip_window, ip_end) = window(code.now, cfg.ip_window.as_secs());
        let (phone_window, phone_end) = window(code.now, cfg.phone_window.as_secs());
        let (phone, ip, cc) = (code.phone, code.source_ip, code.country);
        let mut limits = vec![
            WindowLimit {
                id: format!("smslimit#ip#{ip}#{ip_window}"),
                limit: cfg.ip_limit,
                end: ip_end,
                kind: SendLimit::Ip,
            },
            WindowLimit {
                id: format!("smslimit#phoneip#{phone}#{ip}#{phone_window}"),
                limit: cfg.phone_ip_limit,
                end: phone_end,
                kind: SendLimit::PhoneIp,
            },
        ];
        if !known {
            limits.push(WindowLimit {
                id: format!("smslimit#phone#{phone}#{phone_window}"),
                limit: cfg.phone_limit,
                end: phone_end,
                kind: SendLimit::Phone,
            });
        }
        let (country_hourly, country_daily) = cfg.country_limits(cc);
        for (scope, kind, hourly, daily) in [
            ("all".to_owned(), SendLimit::Global, cfg.global_hourly_limit, cfg.global_daily_limit),
            (format!("cc#{cc}"), SendLimit::Country, country_hourly, country_daily),
        ] {
            for (span, length, limit) in [("h", 3600, hourly), ("d", 24 * 3600, daily)] {
                let (w, end) = window(code.now, length);
                let (k, share) = budget_shard(limit, pick);
                limits.push(WindowLimit { id: format!("smsbudget#{scope}#{span}#{w}#{k}"), limit: share, end, kind });
            }
        }
        limits
    }

    /// Takes one send from every window and stores the new code in a free slot, unless a code
    /// went to this phone less than `resend_interval` ago or every slot holds a live code (a
    /// re-send never voids a delivered code). Refusals name the limit and when it reopens.
    pub async fn reserve_sms(&self, code: &NewCode<'_>, cfg: &SmsConfig) -> Result<Reserved, StoreError> {
        let now = code.now;
        let mut pick = random_pick();
        // A budget shard that is full while others are not is given one other pick.
        let mut repicked = false;
        // Another send won the compare-and-set on `sent_at`: it is the resend interval that
        // answers, unless the interval is zero; then look again.
        for _ in 0..CONFLICT_RETRIES {
            let id = captcha_id(code.phone);
            let item = self.get(&self.tables.tokens, id.as_str()).await?;
            let phone = Phone::read(item.as_ref(), cfg.max_live_codes, &id)?;
            let resend_at = phone.sent_at + cfg.resend_interval.as_secs();
            if phone.exists && resend_at > now {
                return Err(StoreError::SendLimited { limit: SendLimit::Resend, retry_after: resend_at - now });
            }
            let free = phone.slots.iter().position(|s| match s {
                None => true,
                Some(s) => s.expires_at <= now || phone.tries >= s.dies_at_tries,
            });
            let Some(slot) = free else {
                let oldest = phone.live(now, phone.tries).map(|(_, s)| s.expires_at).min().unwrap_or(now + 1);
                return Err(StoreError::SendLimited { limit: SendLimit::Resend, retry_after: oldest - now });
            };
            let known = phone.known.iter().any(|(ip, until)| *ip == known_address(code.source_ip) && *until > now);
            let limits = self.send_limits(code, cfg, known, pick);
            // A counter's condition lets the first send of a window through: a budget of 0 (a
            // country switched off) refuses here.
            if let Some(l) = limits.iter().find(|l| l.limit == 0) {
                return Err(StoreError::SendLimited { limit: l.kind, retry_after: l.end.saturating_sub(now).max(1) });
            }
            let mut items = Vec::with_capacity(limits.len() + 1);
            for l in &limits {
                items.push(self.window_counter(l.id.clone(), 1, Some((l.limit, l.end)))?);
            }
            items.push(self.store_code(code, &phone, slot, cfg)?);
            let rejected = match self.transact(items).await? {
                Ok(()) => {
                    let counters = limits.into_iter().map(|l| l.id).collect();
                    return Ok(Reserved { counters, slot, previous_sent_at: phone.sent_at, created: !phone.exists });
                }
                Err(r) => r,
            };
            if let Some(l) = limits.get(rejected.index) {
                let budget = matches!(l.kind, SendLimit::Global | SendLimit::Country);
                if budget && !repicked {
                    repicked = true;
                    pick = pick.wrapping_add(1 + random_pick() % (BUDGET_SHARDS - 1));
                    continue;
                }
                return Err(StoreError::SendLimited { limit: l.kind, retry_after: l.end.saturating_sub(now).max(1) });
            }
        }
        Err(StoreError::Contended)
    }

    /// The write that puts the code in `slot`, conditioned on the item being as read (a
    /// concurrent send changes `sent_at`). A budget window that would end while this code is
    /// live starts afresh, so that a live code always has its window.
    fn store_code(
        &self,
        code: &NewCode<'_>,
        phone: &Phone,
        slot: usize,
        cfg: &SmsConfig,
    ) -> Result<TransactWriteItem, StoreError> {
        let code_end = code.now + cfg.code_ttl.as_secs();
        let renew_budget = phone.budget_end <= code_end;
        let budget_end = if renew_budget { code.now + cfg.wrong_try_window.as_secs() } else { phone.budget_end };
        let mut set = vec![
            format!("c{slot} = :h"),
            format!("e{slot} = :e"),
            "sent_at = :now".to_owned(),
            "expires_at = :ttl".to_owned(),
        ];
        // `tries` exists on every item (the first send creates it), so a code's death is an
        // addition on the stored count, whatever tries land meanwhile.
        set.push(if phone.exists { format!("m{slot} = tries + :max") } else { format!("m{slot} = :max") });
        if !phone.exists {
            set.push("tries = :zero".into());
        }
        if renew_budget {
            set.push("budget_used = :zero".into());
            set.push("budget_end = :budget_end".into());
        }
        // The addresses' budgets of the window that ends go with it, and lapsed known addresses.
        let mut stale: Vec<String> = if renew_budget { phone.ip_budgets.clone() } else { Vec::new() };
        stale.extend(phone.known.iter().filter(|(_, until)| *until <= code.now).map(|(k, _)| k.clone()));
        let remove = if stale.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = (0..stale.len()).map(|i| format!("#b{i}")).collect();
            format!(" REMOVE {}", names.join(", "))
        };
        let known = phone.known.iter().map(|(_, until)| *until);
        let ttl = phone
            .slots
            .iter()
            .flatten()
            .map(|s| s.expires_at)
            .chain(known)
            .chain([code_end, budget_end])
            .max()
            .unwrap_or(code_end);
        let mut update = Update::builder()
            .table_name(&self.tables.tokens)
            .set_key(Some(key(captcha_id(code.phone))))
            .update_expression(format!("SET {}{remove}", set.join(", ")))
            .expression_attribute_values(":h", s(code.code_hash.as_str()))
            .expression_attribute_values(":e", n(code_end))
            .expression_attribute_values(":now", n(code.now))
            .expression_attribute_values(":ttl", n(ttl))
            .expression_attribute_values(":max", n(u64::from(cfg.max_attempts)));
        for (i, name) in stale.iter().enumerate() {
            update = update.expression_attribute_names(format!("#b{i}"), name);
        }
        update = if phone.exists && renew_budget {
            // A try counted since the read would otherwise carry its address's count into the
            // new window: the send looks again.
            update
                .condition_expression("sent_at = :seen AND tries = :tries")
                .expression_attribute_values(":seen", n(phone.sent_at))
                .expression_attribute_values(":tries", n(phone.tries))
        } else if phone.exists {
            update.condition_expression("sent_at = :seen").expression_attribute_values(":seen", n(phone.sent_at))
        } else {
            update.condition_expression("attribute_not_exists(tries)")
        };
        if !phone.exists || renew_budget {
            update = update.expression_attribute_values(":zero", n(0));
        }
        if renew_budget {
            update = update.expression_attribute_values(":budget_end", n(budget_end));
        }
        Ok(TransactWriteItem::builder().update(update.build().map_err(build_err)?).build())
    }

    /// Gives back a reservation whose SMS never left: the counters go down, the undelivered
    /// code is removed and the resend clock is put back, so the phone can ask again at once.
    pub async fn release_sms(&self, code: &NewCode<'_>, reserved: &Reserved) -> Result<(), StoreError> {
        let mut items = Vec::with_capacity(reserved.counters.len() + 1);
        for id in &reserved.counters {
            items.push(self.window_counter(id.clone(), -1, None)?);
        }
        let slot = reserved.slot;
        let give_back = if reserved.created {
            let delete = Delete::builder()
                .table_name(&self.tables.tokens)
                .set_key(Some(key(captcha_id(code.phone))))
                .condition_expression(format!("c{slot} = :h"))
                .expression_attribute_values(":h", s(code.code_hash.as_str()))
                .build()
                .map_err(build_err)?;
            TransactWriteItem::builder().delete(delete).build()
        } else {
            let update = Update::builder()
                .table_name(&self.tables.tokens)
                .set_key(Some(key(captcha_id(code.phone))))
                .update_expression(format!("REMOVE c{slot}, e{slot}, m{slot} SET sent_at = :prev"))
                .condition_expression(format!("c{slot} = :h"))
                .expression_attribute_values(":h", s(code.code_hash.as_str()))
                .expression_attribute_values(":prev", n(reserved.previous_sent_at))
                .build()
                .map_err(build_err)?;
            TransactWriteItem::builder().update(update).build()
        };
        items.push(give_back);
        match self.transact(items).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(StoreError::Contended),
        }
    }

    /// Counts one try from `source_ip` at `phone`'s codes, then compares: the try is counted
    /// (one conditional write) only while some code is unexpired and has tries left and neither
    /// that address's wrong-try budget nor the phone's ceiling is spent; only then is
    /// `code_hash` compared with the codes that try was allowed against. A match is not used up
    /// here: see [`Matched`].
    pub async fn try_captcha(
        &self,
        phone: &str,
        source_ip: &str,
        code_hash: &str,
        cfg: &SmsConfig,
        now: u64,
    ) -> Result<Matched, StoreError> {
        let slots = cfg.max_live_codes;
        let live: Vec<String> = (0..slots).map(|i| format!("(e{i} > :now AND tries < m{i})")).collect();
        let mut attempt = 0;
        let out = loop {
            let result = self
                .client
                .update_item()
                .table_name(&self.tables.tokens)
                .set_key(Some(key(captcha_id(phone))))
                .update_expression("ADD tries :one, budget_used :one, #ip :one")
                .condition_expression(format!(
                    "budget_used < :ceiling AND (attribute_not_exists(#ip) OR #ip < :budget) AND budget_end > :now \
                     AND ({})",
                    live.join(" OR ")
                ))
                .expression_attribute_names("#ip", ip_budget(source_ip))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":ceiling", n(u64::from(cfg.wrong_try_ceiling)))
                .expression_attribute_values(":budget", n(u64::from(cfg.wrong_try_budget)))
                .expression_attribute_values(":now", n(now))
                .return_values(ReturnValue::AllNew)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .send()
                .await;
            match result {
                Ok(out) => break out,
                Err(err) => match err.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(e)) => {
                        let id = captcha_id(phone);
                        let stored = Phone::read(e.item(), slots, &id)?;
                        let from_ip = match e.item() {
                            Some(item) if stored.exists => match item.get(&ip_budget(source_ip)) {
                                Some(_) => Attrs::returned_by(item, &id).count(&ip_budget(source_ip))?,
                                None => 0,
                            },
                            _ => 0,
                        };
                        if stored.exists
                            && stored.budget_end > now
                            && (stored.budget_used >= u64::from(cfg.wrong_try_ceiling)
                                || from_ip >= u64::from(cfg.wrong_try_budget))
                        {
                            return Err(StoreError::CaptchaLocked { retry_after: stored.budget_end - now });
                        }
                        // Unexpired codes without tries left: this guess was not compared.
                        if stored.slots.iter().flatten().any(|s| s.expires_at > now) {
                            return Err(StoreError::CaptchaTriesUsedUp);
                        }
                        return Err(StoreError::CaptchaRefused);
                    }
                    Some(UpdateItemError::TransactionConflictException(_)) if attempt < CONFLICT_RETRIES => {
                        attempt += 1;
                        tokio::time::sleep(super::backoff(attempt)).await;
                    }
                    _ => return Err(unavailable(err)),
                },
            }
        };
        let id = captcha_id(phone);
        let stored = Phone::read(out.attributes(), slots, &id)?;
        let stored_ttl = match out.attributes() {
            Some(item) => Attrs::returned_by(item, &id).opt_n("expires_at")?.unwrap_or(0),
            None => 0,
        };
        // The try was counted: it was allowed against the codes that had a try left before it.
        let matched = stored.live(now, stored.tries - 1).find(|(_, s)| s.code_hash == code_hash).map(|(i, _)| i);
        let Some(slot) = matched else { return Err(StoreError::CaptchaRefused) };
        // Using the code takes it out of its slot (so it works once: of two concurrent uses
        // the second's condition fails), gives the try back to the budgets, which only count
        // wrong ones, and makes the address a known one of this phone (the item lives as long).
        let known_until = now + cfg.known_address_ttl.as_secs();
        let consume = Update::builder()
            .table_name(&self.tables.tokens)
            .set_key(Some(key(id)))
            .update_expression(format!(
                "REMOVE c{slot}, e{slot}, m{slot} ADD budget_used :minus, #ip :minus SET #known = :until, expires_at = :ttl"
            ))
            .condition_expression(format!("c{slot} = :h"))
            .expression_attribute_names("#ip", ip_budget(source_ip))
            .expression_attribute_names("#known", known_address(source_ip))
            .expression_attribute_values(":until", n(known_until))
            .expression_attribute_values(":ttl", n(known_until.max(stored_ttl)))
            .expression_attribute_values(":h", s(code_hash))
            .expression_attribute_values(":minus", AttributeValue::N("-1".into()))
            .build()
            .map_err(build_err)?;
        Ok(Matched {
            consume: LinkedWrite {
                item: TransactWriteItem::builder().update(consume).build(),
                refused: || StoreError::CaptchaRefused,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(expires_at: u64, dies_at_tries: u64) -> Option<Slot> {
        Some(Slot { code_hash: format!("h{expires_at}"), expires_at, dies_at_tries })
    }

    #[test]
    fn a_stored_code_needs_its_expiry_and_death_and_the_phone_its_counts() {
        let item = |pairs: &[(&str, AttributeValue)]| -> Item {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
        };
        let full = [
            ("c0", s("h")),
            ("e0", n(100)),
            ("m0", n(5)),
            ("tries", n(1)),
            ("budget_used", AttributeValue::N("-1".into())),
            ("budget_end", n(200)),
            ("sent_at", n(40)),
        ];
        let read = Phone::read(Some(&item(&full)), 2, "captcha#x").unwrap();
        assert_eq!(read.slots, [slot(100, 5).map(|s| Slot { code_hash: "h".into(), ..s }), None]);
        assert_eq!((read.tries, read.budget_used, read.sent_at), (1, 0, 40), "a give-back below a reset is 0");
        for attribute in ["e0", "m0", "budget_end", "sent_at"] {
            let damaged: Vec<_> = full.iter().filter(|(k, _)| *k != attribute).cloned().collect();
            let err = Phone::read(Some(&item(&damaged)), 2, "captcha#+8613800138000").unwrap_err();
            assert!(matches!(&err, StoreError::Corrupt { attribute: a, .. } if a == attribute), "{err:?}");
            assert!(!err.to_string().contains("13800138000"), "{err}");
        }
        let no_tries: Vec<_> = full.iter().filter(|(k, _)| *k != "tries").cloned().collect();
        assert!(!Phone::read(Some(&item(&no_tries)), 2, "k").unwrap().exists, "not written by this code: absent");
    }

    #[test]
    fn budget_shares_add_up_to_the_limit_and_small_budgets_are_one_item() {
        for limit in [0, 1, 3, 99, 100, 250, 1000, 1599, 1600, 10_000, 1_000_000] {
            let shards = (limit / BUDGET_SHARD_MIN).clamp(1, BUDGET_SHARDS);
            let shares: Vec<u32> = (0..shards).map(|k| budget_shard(limit, k)).map(|(_, share)| share).collect();
            assert_eq!(shares.iter().sum::<u32>(), limit, "{limit}");
            assert!(shares.iter().all(|s| *s >= BUDGET_SHARD_MIN || shards == 1), "{limit}: {shares:?}");
            assert_eq!(budget_shard(limit, shards + 1).0, 1 % shards, "the pick wraps");
        }
        assert_eq!(budget_shard(99, 12345), (0, 99), "below 2 shards' worth: one exact item");
        assert_eq!(budget_shard(10_000, 7), (7, 625));
    }

    #[test]
    fn a_code_is_live_until_it_expires_or_runs_out_of_tries() {
        let phone = Phone { exists: true, slots: vec![slot(200, 5), None, slot(100, 9)], tries: 5, ..Phone::default() };
        let live = |now, tries| phone.live(now, tries).map(|(i, _)| i).collect::<Vec<_>>();
        assert_eq!(live(50, 4), [0, 2]);
        assert_eq!(live(50, 5), [2], "slot 0 had its 5 tries");
        assert_eq!(live(100, 4), [0], "slot 2 expired");
        assert_eq!(live(200, 0), Vec::<usize>::new());
    }
}
