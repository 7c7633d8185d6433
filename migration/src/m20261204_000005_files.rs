//! Blobs, files and case-document attachments.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Blobs {
    Table,
    Blake3,
    Md5,
    Size,
    ContentType,
    LastUsedMs,
}

#[derive(DeriveIden)]
enum Files {
    Table,
    Id,
    OwnerId,
    BlobBlake3,
    FileName,
    ContentType,
    Size,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CaseAttachments {
    Table,
    DocumentId,
    FileId,
    PatientId,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    FileId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Blobs::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Blobs::Blake3)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Blobs::Md5).string_len(32).not_null())
                    .col(ColumnDef::new(Blobs::Size).big_integer().not_null())
                    .col(
                        ColumnDef::new(Blobs::ContentType)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Blobs::LastUsedMs).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_blobs_md5")
                    .table(Blobs::Table)
                    .col(Blobs::Md5)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Files::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Files::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Files::OwnerId).big_integer().not_null())
                    .col(ColumnDef::new(Files::BlobBlake3).string_len(64).not_null())
                    .col(ColumnDef::new(Files::FileName).string_len(255).not_null())
                    .col(
                        ColumnDef::new(Files::ContentType)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Files::Size).big_integer().not_null())
                    .col(
                        ColumnDef::new(Files::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("idx_files_owner", Files::OwnerId),
            ("idx_files_blob", Files::BlobBlake3),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Files::Table)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(CaseAttachments::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(CaseAttachments::DocumentId)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CaseAttachments::FileId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CaseAttachments::PatientId)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(CaseAttachments::DocumentId)
                            .col(CaseAttachments::FileId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_case_attachments_file")
                    .table(CaseAttachments::Table)
                    .col(CaseAttachments::FileId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_messages_file")
                    .table(Messages::Table)
                    .col(Messages::FileId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            CaseAttachments::Table.into_iden(),
            Files::Table.into_iden(),
            Blobs::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
