//! Security Hub in AWS: `BatchImportFindings` of one [`Finding`] at a time, in the account's
//! default product, which the caller's identity (STS GetCallerIdentity, once at start-up) and
//! the SDK's region name. The SDK retries each call; a finding Security Hub refuses (it answers
//! 200 with a failed count) is a [`PublishError`] too, so that it takes the result events' way
//! back through the scan queue.

use aws_sdk_securityhub::types::{
    AwsS3ObjectDetails, AwsSecurityFinding, Partition, Recommendation, Remediation, Resource,
    ResourceDetails, SeverityLabel, Workflow, WorkflowStatus,
};

use super::{Aws, IdentityError};
use crate::findings::{Finding, GENERATOR_ID, Product, SCHEMA_VERSION};
use crate::publish::PublishError;

/// Where findings are imported: the client and the product.
#[derive(Debug)]
pub struct SecurityHubTarget {
    client: aws_sdk_securityhub::Client,
    product: Product,
}

impl SecurityHubTarget {
    /// The target in the account and region of `aws`'s credentials.
    pub async fn connect(aws: &Aws) -> Result<SecurityHubTarget, IdentityError> {
        let region = aws.region().map(ToString::to_string).ok_or_else(|| {
            IdentityError::new("no region to file Security Hub findings in (set AWS_REGION)")
        })?;
        let arn = aws.caller_arn_within(Some(&aws.bounded)).await?;
        let product = Product::of_caller(&arn, &region).ok_or_else(|| {
            IdentityError::new(format!("`{arn}` names no account to file findings in"))
        })?;
        tracing::info!(product = %product.arn(), "Security Hub findings on");
        Ok(SecurityHubTarget {
            client: aws.securityhub.clone(),
            product,
        })
    }

    /// The product findings are filed in.
    pub fn product(&self) -> &Product {
        &self.product
    }

    /// Imports `finding`: created, or updated when its id exists.
    pub async fn import(&self, finding: &Finding) -> Result<(), PublishError> {
        let target = || format!("Security Hub product {}", finding.product_arn);
        crate::store::requests::count();
        let out = self
            .client
            .batch_import_findings()
            .findings(asff(finding))
            .send()
            .await
            .map_err(|e| super::targets::failure(target(), "securityhub:BatchImportFindings", e))?;
        match out.failed_findings().first() {
            Some(failed) => Err(PublishError {
                target: target(),
                detail: format!(
                    "finding {} refused: {}: {}",
                    finding.id,
                    failed.error_code().unwrap_or("-"),
                    failed.error_message().unwrap_or("-")
                ),
            }),
            None => Ok(()),
        }
    }
}

/// `finding` as the SDK's ASFF type.
fn asff(finding: &Finding) -> AwsSecurityFinding {
    let mut builder = AwsSecurityFinding::builder()
        .schema_version(SCHEMA_VERSION)
        .id(&finding.id)
        .product_arn(&finding.product_arn)
        .generator_id(GENERATOR_ID)
        .aws_account_id(&finding.aws_account_id)
        .region(&finding.region)
        .created_at(&finding.created_at)
        .updated_at(&finding.updated_at)
        .severity(
            aws_sdk_securityhub::types::Severity::builder()
                .label(SeverityLabel::from(finding.severity.label()))
                .build(),
        )
        .title(&finding.title)
        .description(&finding.description)
        .remediation(
            Remediation::builder()
                .recommendation(Recommendation::builder().text(&finding.remediation).build())
                .build(),
        )
        .record_state(finding.record_state.name().into())
        .workflow(
            Workflow::builder()
                .status(WorkflowStatus::from(finding.record_state.workflow()))
                .build(),
        );
    for kind in &finding.types {
        builder = builder.types(kind);
    }
    for resource in &finding.resources {
        builder = builder.resources(resource_of(finding, resource));
    }
    builder.build()
}

fn resource_of(finding: &Finding, resource: &crate::findings::Resource) -> Resource {
    let mut builder = Resource::builder()
        .r#type(&resource.kind)
        .id(&resource.id)
        .partition(Partition::from(finding.partition.as_str()))
        .region(&finding.region);
    if resource.etag.is_some() || resource.version_id.is_some() {
        let details = AwsS3ObjectDetails::builder()
            .set_e_tag(resource.etag.clone())
            .set_version_id(resource.version_id.clone())
            .build();
        builder = builder.details(ResourceDetails::builder().aws_s3_object(details).build());
    }
    builder.build()
}
