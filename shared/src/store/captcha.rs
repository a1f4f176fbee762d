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
//!   - `sent_at`: the last send (the resend interval, and the compare-and-set of sends).
//! - `smslimit#ip#<ip>#<w>`, `smslimit#phoneip#<e164>#<ip>#<w>`, `smslimit#phone#<e164>#<w>`:
//!   fixed-window send counters.
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
    pub source_ip: &'a str,
    pub code_hash: String,
    pub now: u64,
}

/// Where a reserved send went, so that it can be given back.
pub struct Reserved {
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
    /// end of its window and the limit its refusal names.
    fn send_limits(&self, code: &NewCode<'_>, cfg: &SmsConfig) -> [(String, u32, u64, SendLimit); 3] {
        let (ip_window, ip_end) = window(code.now, cfg.ip_window.as_secs());
        let (phone_window, phone_end) = window(code.now, cfg.phone_window.as_secs());
        let (phone, ip) = (code.phone, code.source_ip);
        [
            (format!("smslimit#ip#{ip}#{ip_window}"), cfg.ip_limit, ip_end, SendLimit::Ip),
            (
                format!("smslimit#phoneip#{phone}#{ip}#{phone_window}"),
                cfg.phone_ip_limit,
                phone_end,
                SendLimit::PhoneIp,
            ),
            (format!("smslimit#phone#{phone}#{phone_window}"), cfg.phone_limit, phone_end, SendLimit::Phone),
        ]
    }

    /// Takes one send from every window and stores the new code in a free slot, unless a code
    /// went to this phone less than `resend_interval` ago or every slot holds a live code (a
    /// re-send never voids a delivered code). Refusals name the limit and when it reopens.
    pub async fn reserve_sms(&self, code: &NewCode<'_>, cfg: &SmsConfig) -> Result<Reserved, StoreError> {
        let now = code.now;
        let limits = self.send_limits(code, cfg);
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
            let mut items = Vec::with_capacity(4);
            for (id, limit, end, _) in &limits {
                items.push(self.window_counter(id.clone(), 1, Some((*limit, *end)))?);
            }
            items.push(self.store_code(code, &phone, slot, cfg)?);
            let rejected = match self.transact(items).await? {
                Ok(()) => return Ok(Reserved { slot, previous_sent_at: phone.sent_at, created: !phone.exists }),
                Err(r) => r,
            };
            if let Some((_, _, end, limit)) = limits.get(rejected.index) {
                return Err(StoreError::SendLimited { limit: *limit, retry_after: end.saturating_sub(now).max(1) });
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
        // The addresses' budgets of the window that ends go with it.
        let stale: Vec<String> = if renew_budget { phone.ip_budgets.clone() } else { Vec::new() };
        let remove = if stale.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = (0..stale.len()).map(|i| format!("#b{i}")).collect();
            format!(" REMOVE {}", names.join(", "))
        };
        let ttl =
            phone.slots.iter().flatten().map(|s| s.expires_at).chain([code_end, budget_end]).max().unwrap_or(code_end);
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
    pub async fn release_sms(
        &self,
        code: &NewCode<'_>,
        reserved: &Reserved,
        cfg: &SmsConfig,
    ) -> Result<(), StoreError> {
        let mut items = Vec::with_capacity(4);
        for (id, _, _, _) in self.send_limits(code, cfg) {
            items.push(self.window_counter(id, -1, None)?);
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
        let stored = Phone::read(out.attributes(), slots, &captcha_id(phone))?;
        // The try was counted: it was allowed against the codes that had a try left before it.
        let matched = stored.live(now, stored.tries - 1).find(|(_, s)| s.code_hash == code_hash).map(|(i, _)| i);
        let Some(slot) = matched else { return Err(StoreError::CaptchaRefused) };
        // Using the code takes it out of its slot (so it works once: of two concurrent uses
        // the second's condition fails) and gives the try back to the budgets, which only
        // count wrong ones.
        let consume = Update::builder()
            .table_name(&self.tables.tokens)
            .set_key(Some(key(captcha_id(phone))))
            .update_expression(format!("REMOVE c{slot}, e{slot}, m{slot} ADD budget_used :minus, #ip :minus"))
            .condition_expression(format!("c{slot} = :h"))
            .expression_attribute_names("#ip", ip_budget(source_ip))
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
    fn a_code_is_live_until_it_expires_or_runs_out_of_tries() {
        let phone = Phone { exists: true, slots: vec![slot(200, 5), None, slot(100, 9)], tries: 5, ..Phone::default() };
        let live = |now, tries| phone.live(now, tries).map(|(i, _)| i).collect::<Vec<_>>();
        assert_eq!(live(50, 4), [0, 2]);
        assert_eq!(live(50, 5), [2], "slot 0 had its 5 tries");
        assert_eq!(live(100, 4), [0], "slot 2 expired");
        assert_eq!(live(200, 0), Vec::<usize>::new());
    }
}
