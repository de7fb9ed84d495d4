use std::fmt;

/// What the emulator accepts and answers with.
///
/// `Debug` never prints the API keys, only how many there are.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// API keys accepted as `Authorization: Bearer <key>` on every `/v2` route. With none,
    /// every `/v2` request is answered 401.
    pub api_keys: Vec<String>,
    /// The account balance reported by `GET /v2/balance`, verbatim (for example `"300.00"`).
    pub balance: String,
    /// The currency reported by `GET /v2/balance` (for example `"USD"`).
    pub currency: String,
}

impl Default for EmulatorConfig {
    /// No API keys, balance `"300.00"`, currency `"USD"`.
    fn default() -> Self {
        Self {
            api_keys: Vec::new(),
            balance: "300.00".to_owned(),
            currency: "USD".to_owned(),
        }
    }
}

impl fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field(
                "api_keys",
                &format_args!("[redacted; {} keys]", self.api_keys.len()),
            )
            .field("balance", &self.balance)
            .field("currency", &self.currency)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_api_keys() {
        let config = EmulatorConfig {
            api_keys: vec!["KEY-super-secret".to_owned()],
            ..EmulatorConfig::default()
        };
        let printed = format!("{config:?}");
        assert!(!printed.contains("super-secret"), "{printed}");
        assert!(printed.contains("1 keys"), "{printed}");
    }
}
