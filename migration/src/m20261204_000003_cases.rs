//! Case history for the embedded document store, and the audit trail.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CaseDocuments {
    Table,
    Id,
    PatientId,
    AuthorId,
    Kind,
    Title,
    OccurredAtMs,
    Version,
    Archived,
    CreatedAtMs,
    UpdatedAtMs,
    Body,
}

#[derive(DeriveIden)]
enum CaseDocumentVersions {
    Table,
    DocumentId,
    Version,
    Snapshot,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    ActorId,
    Action,
    DocumentId,
    PatientId,
    Outcome,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CaseDocuments::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(CaseDocuments::Id)
                            .string_len(32)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(CaseDocuments::PatientId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CaseDocuments::AuthorId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CaseDocuments::Kind)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CaseDocuments::Title)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CaseDocuments::OccurredAtMs)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(CaseDocuments::Version).integer().not_null())
                    .col(ColumnDef::new(CaseDocuments::Archived).boolean().not_null())
                    .col(
                        ColumnDef::new(CaseDocuments::CreatedAtMs)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CaseDocuments::UpdatedAtMs)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CaseDocuments::Body)
                            .custom(Alias::new("LONGTEXT"))
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_case_documents_patient_time")
                    .table(CaseDocuments::Table)
                    .col(CaseDocuments::PatientId)
                    .col(CaseDocuments::OccurredAtMs)
                    .col(CaseDocuments::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CaseDocumentVersions::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(CaseDocumentVersions::DocumentId)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CaseDocumentVersions::Version)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CaseDocumentVersions::Snapshot)
                            .custom(Alias::new("LONGTEXT"))
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(CaseDocumentVersions::DocumentId)
                            .col(CaseDocumentVersions::Version),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(AuditEvents::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(AuditEvents::ActorId).big_integer().null())
                    .col(
                        ColumnDef::new(AuditEvents::Action)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuditEvents::DocumentId)
                            .string_len(32)
                            .null(),
                    )
                    .col(ColumnDef::new(AuditEvents::PatientId).big_integer().null())
                    .col(
                        ColumnDef::new(AuditEvents::Outcome)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuditEvents::At)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("idx_audit_patient", AuditEvents::PatientId),
            ("idx_audit_document", AuditEvents::DocumentId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(AuditEvents::Table)
                        .col(col)
                        .col(AuditEvents::Id)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            AuditEvents::Table.into_iden(),
            CaseDocumentVersions::Table.into_iden(),
            CaseDocuments::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
