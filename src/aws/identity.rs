//! STS GetCallerIdentity (which needs no permission): who releases an object from quarantine,
//! and the account Security Hub findings are filed in.

use super::Aws;

/// STS could not say who the caller is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot tell who is calling (STS GetCallerIdentity): {0}")]
pub struct IdentityError(String);

impl IdentityError {
    /// An identity problem, in words.
    pub(super) fn new(why: impl Into<String>) -> IdentityError {
        IdentityError(why.into())
    }
}

impl Aws {
    /// The caller's ARN: who releases an object from quarantine.
    pub async fn caller_arn(&self) -> Result<String, IdentityError> {
        self.caller_arn_within(None).await
    }

    /// The caller's ARN, within `timeouts` when given (those of the result events, when it
    /// names the account of Security Hub findings).
    pub(super) async fn caller_arn_within(
        &self,
        timeouts: Option<&aws_config::timeout::TimeoutConfig>,
    ) -> Result<String, IdentityError> {
        let call = self.sts.get_caller_identity().customize();
        let call = match timeouts {
            Some(t) => call
                .config_override(aws_sdk_sts::config::Builder::default().timeout_config(t.clone())),
            None => call,
        };
        let out = call
            .send()
            .await
            .map_err(|e| IdentityError(aws_sdk_sts::error::DisplayErrorContext(&e).to_string()))?;
        out.arn()
            .map(str::to_owned)
            .ok_or_else(|| IdentityError("the answer names no ARN".into()))
    }
}
