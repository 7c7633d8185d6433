use async_graphql::{Context, Object, ID};

use super::types::{CaseDocument, CreateCaseDocumentInput, UpdateCaseDocumentInput};
use crate::{auth::Viewer, schema::services};

#[derive(Default)]
pub struct CasesMutation;

#[Object]
impl CasesMutation {
    /// Adds a document to a patient's case history.
    async fn create_case_document(
        &self,
        ctx: &Context<'_>,
        input: CreateCaseDocumentInput,
    ) -> async_graphql::Result<CaseDocument> {
        Ok(services(ctx)?
            .cases
            .create(&Viewer::from_ctx(ctx), input)
            .await?)
    }

    /// Changes a document the viewer wrote. `expectedVersion` must be its
    /// current version (else CONFLICT, nothing changed); the old version is kept.
    async fn update_case_document(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i32,
        input: UpdateCaseDocumentInput,
    ) -> async_graphql::Result<CaseDocument> {
        Ok(services(ctx)?
            .cases
            .update(&Viewer::from_ctx(ctx), &id, expected_version, input)
            .await?)
    }

    /// Hides a document from lists (medical records are never deleted).
    async fn archive_case_document(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i32,
    ) -> async_graphql::Result<CaseDocument> {
        Ok(services(ctx)?
            .cases
            .set_archived(&Viewer::from_ctx(ctx), &id, expected_version, true)
            .await?)
    }

    /// Brings an archived document back.
    async fn restore_case_document(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i32,
    ) -> async_graphql::Result<CaseDocument> {
        Ok(services(ctx)?
            .cases
            .set_archived(&Viewer::from_ctx(ctx), &id, expected_version, false)
            .await?)
    }
}
