//! `syctl account balance ...`: an account's balance is runtime state (never
//! in gateway.yaml): `set` records one by hand, `show` prints what the control
//! plane knows (amount, source: polled by which poller or set by hand, age,
//! the burn rate of priced usage over a window and the time to empty at that
//! rate, the poll schedule and its last error), and `syctl status` lists the
//! drained accounts with the same reasons.

use crate::Ctx;
use crate::cli::BalanceCmd;
use crate::client::Reply;
use crate::error::Error;
use crate::names;
use crate::output::{self, Table};
use crate::units::{self, ago, json_ms_time, now_ms, short_span, show_amount, show_money};
use serde_json::{Value, json};
use switchyard_proto::pb;

pub async fn run(ctx: &mut Ctx<'_>, cmd: BalanceCmd) -> Result<i32, Error> {
    match cmd {
        BalanceCmd::Set { provider, name, amount, currency } => set(ctx, provider, name, &amount, &currency).await,
        BalanceCmd::Show { provider, name, window } => show(ctx, provider, name, &window).await,
    }
}

async fn set(ctx: &mut Ctx<'_>, provider: String, name: String, amount: &str, currency: &str) -> Result<i32, Error> {
    let amount_micros = units::money("AMOUNT", amount)?;
    let currency = units::currency("--currency", currency)?;
    let mut c = ctx.connect().await?;
    let request = pb::SetBalanceRequest {
        provider: provider.clone(),
        account: name.clone(),
        currency: currency.clone(),
        amount_micros,
    };
    let r = c.rpc.set_balance(request).await.reply(&c.url)?;
    let shown = format!("{} {currency}", units::show_money(amount_micros));
    if ctx.json() {
        let value = json!({
            "provider": provider, "account": name, "balance": units::show_money(amount_micros),
            "currency": currency, "config_version": r.config_version,
        });
        output::json(ctx.out, &value)?;
    } else {
        output::write(ctx.out, &format!("account {provider}/{name} balance set to {shown}"))?;
    }
    Ok(0)
}

/// `PROVIDER ACCOUNT`, `PROVIDER/ACCOUNT`, `PROVIDER` or nothing.
fn target(provider: Option<String>, name: Option<String>) -> Result<(String, String), Error> {
    match (provider, name) {
        (None, _) => Ok((String::new(), String::new())),
        (Some(p), Some(a)) => Ok((p, a)),
        (Some(p), None) => match p.split_once('/') {
            Some((p, a)) if !p.is_empty() && !a.is_empty() => Ok((p.to_owned(), a.to_owned())),
            Some(_) => Err(Error::Usage(format!("{p:?}: expected PROVIDER/ACCOUNT"))),
            None => Ok((p, String::new())),
        },
    }
}

async fn show(ctx: &mut Ctx<'_>, provider: Option<String>, name: Option<String>, window: &str) -> Result<i32, Error> {
    let (provider, account) = target(provider, name)?;
    let window_ms = units::duration_ms("--window", window)?;
    if window_ms == 0 {
        return Err(Error::Usage("--window: must be more than 0s".into()));
    }
    let mut c = ctx.connect().await?;
    let query = pb::BalanceQuery { provider, account, window_ms };
    let list = c.rpc.list_balances(query).await.reply(&c.url)?;
    let now = now_ms();
    if ctx.json() {
        let items: Vec<Value> = list.balances.iter().map(|b| entry_json(b, now)).collect();
        output::json(ctx.out, &json!({ "balances": items }))?;
        return Ok(0);
    }
    let burn_head = format!("BURN ({})", units::show_ms(window_ms));
    let mut t = Table::new(&["ACCOUNT", "BALANCE", "SOURCE", "UPDATED", &burn_head, "EMPTY IN", "STATE"]);
    let mut notes = Vec::new();
    for b in &list.balances {
        let name = format!("{}/{}", b.provider, b.account);
        let rate = burn_rate(b);
        t.row(vec![
            name.clone(),
            if b.known { format!("{} {}", show_amount(b.amount_micros), b.currency) } else { "-".into() },
            source(b),
            if b.known { ago(b.updated_at_ms, now) } else { "-".into() },
            rate.map_or_else(|| "-".into(), |r| format!("{} {}/h", show_money(r.per_hour_micros), r.currency)),
            b.time_to_empty_ms.map_or_else(|| "-".into(), short_span),
            state(b).into(),
        ]);
        notes.extend(notes_for(b, &name, now));
    }
    output::table(ctx.out, &t, "no accounts")?;
    if !notes.is_empty() {
        output::write(ctx.out, &format!("\n{}", notes.join("\n")))?;
    }
    Ok(0)
}

/// The burn in the balance's currency, else the first one.
fn burn_rate(b: &pb::AccountBalance) -> Option<&pb::BurnRate> {
    b.burn.iter().find(|r| r.currency == b.currency).or_else(|| if b.known { None } else { b.burn.first() })
}

/// `polled by deepseek`, `manual`, or `-`.
pub fn source(b: &pb::AccountBalance) -> String {
    match (b.known, b.source.as_str()) {
        (false, _) => "-".into(),
        (true, "polled") if !b.poller.is_empty() => format!("polled by {}", b.poller),
        (true, source) => source.to_owned(),
    }
}

fn failures(b: &pb::AccountBalance) -> u64 {
    b.poll.as_ref().map_or(0, |p| p.failures)
}

fn state(b: &pb::AccountBalance) -> &'static str {
    let polled = b.balance_api != pb::BalanceApi::None as i32;
    if !b.enabled {
        "disabled"
    } else if b.known && b.drained {
        "drained"
    } else if failures(b) > 0 {
        "poll failing"
    } else if !b.known && polled {
        "not polled yet"
    } else if !b.known {
        "no balance"
    } else {
        "ok"
    }
}

/// The currency the policy names, when the balance is kept in another.
fn currency_differs(b: &pb::AccountBalance) -> bool {
    b.known && !b.policy_currency.is_empty() && b.policy_currency != b.currency
}

fn notes_for(b: &pb::AccountBalance, name: &str, now: i64) -> Vec<String> {
    let mut notes = Vec::new();
    if currency_differs(b) {
        notes.push(format!(
            "{name}: the balance is in {}, the balance policy says {} (not converted; alert_below is not compared)",
            b.currency, b.policy_currency
        ));
    }
    if let Some(p) = b.poll.as_ref().filter(|p| p.failures > 0) {
        let next = if p.next_due_ms > now {
            format!("next try in {}", short_span(u64::try_from(p.next_due_ms - now).unwrap_or(0)))
        } else {
            "next try now".into()
        };
        notes.push(format!("{name}: {} failed {} time(s) in a row: {} ({next})", p.poller, p.failures, p.last_error));
    }
    notes
}

/// Why an account is drained, for `syctl status`:
/// `balance 0.00 USD (polled by deepseek 3m ago)`.
pub fn drained_reason(b: &pb::AccountBalance, now: i64) -> String {
    let when = ago(b.updated_at_ms, now);
    let by = match (b.source.as_str(), b.poller.as_str()) {
        ("polled", poller) if !poller.is_empty() => format!("polled by {poller} {when}"),
        ("manual", _) => format!("set by hand {when}, less priced usage since"),
        (source, _) => format!("{source} {when}"),
    };
    format!("balance {} {} ({by})", show_amount(b.amount_micros), b.currency)
}

fn entry_json(b: &pb::AccountBalance, now: i64) -> Value {
    let known = |v: Value| if b.known { v } else { Value::Null };
    let poll = b.poll.as_ref().map(|p| {
        json!({
            "poller": p.poller,
            "next_due": json_ms_time(p.next_due_ms),
            "last_attempt": json_ms_time(p.last_attempt_ms),
            "last_ok": json_ms_time(p.last_ok_ms),
            "failures": p.failures,
            "last_error": if p.last_error.is_empty() { Value::Null } else { p.last_error.clone().into() },
            "lease_owner": if p.lease_owner.is_empty() { Value::Null } else { p.lease_owner.clone().into() },
        })
    });
    let rates: Vec<Value> = b
        .burn
        .iter()
        .map(|r| json!({"currency": r.currency, "spent": show_money(r.spent_micros), "per_hour": show_money(r.per_hour_micros)}))
        .collect();
    json!({
        "provider": b.provider,
        "account": b.account,
        "enabled": b.enabled,
        "state": state(b),
        "balance": known(show_money(b.amount_micros).into()),
        "currency": known(b.currency.clone().into()),
        "source": known(b.source.clone().into()),
        "poller": if b.poller.is_empty() { Value::Null } else { b.poller.clone().into() },
        "updated_at": known(json_ms_time(b.updated_at_ms)),
        "age_ms": known((now - b.updated_at_ms).max(0).into()),
        "drained": b.known && b.drained,
        "policy": if b.policy_currency.is_empty() { Value::Null } else {
            json!({"currency": b.policy_currency, "alert_below": b.alert_below_micros.map(show_money)})
        },
        "currency_differs_from_policy": currency_differs(b),
        "balance_api": names::balance_api(b.balance_api),
        "poll": poll,
        "burn": {"window": units::show_ms(b.window_ms), "rates": rates},
        "time_to_empty_ms": b.time_to_empty_ms,
        "time_to_empty": b.time_to_empty_ms.map(short_span),
    })
}
