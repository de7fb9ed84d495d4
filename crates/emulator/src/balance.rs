//! `GET /v2/balance`.

use http::{Response, StatusCode};
use serde_json::json;

use crate::config::EmulatorConfig;
use crate::reply::{self, ResponseBody};

/// The credit limit every emulated account has.
const CREDIT_LIMIT: f64 = 100.0;

/// The account balance: `balance` and `currency` from the config, a fixed 100.00 credit
/// limit, and `available_credit` = balance + credit limit with two decimals (the credit limit
/// alone when the configured balance is not a number).
pub(crate) fn get(config: &EmulatorConfig) -> Response<ResponseBody> {
    let balance: f64 = config.balance.trim().parse().unwrap_or(0.0);
    reply::json(
        StatusCode::OK,
        &json!({
            "data": {
                "record_type": "balance",
                "balance": config.balance,
                "credit_limit": format!("{CREDIT_LIMIT:.2}"),
                "available_credit": format!("{:.2}", balance + CREDIT_LIMIT),
                "currency": config.currency,
            }
        }),
    )
}
