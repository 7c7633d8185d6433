//! Conversations and messages.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Conversations {
    Table,
    Id,
    CareLinkId,
    DoctorId,
    PatientId,
    LastSeq,
    LastActivityMs,
    DoctorLastReadSeq,
    PatientLastReadSeq,
    Closed,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    ConversationId,
    Seq,
    SenderId,
    Kind,
    Text,
    FileId,
    CaseDocumentId,
    ClientId,
    CreatedAtMs,
}

fn big<T: IntoIden>(c: T) -> ColumnDef {
    ColumnDef::new(c).big_integer().not_null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Conversations::Table)
                    .if_not_exists()
                    .col(
                        big(Conversations::Id)
                            .auto_increment()
                            .primary_key()
                            .to_owned(),
                    )
                    .col(big(Conversations::CareLinkId).unique_key().to_owned())
                    .col(big(Conversations::DoctorId))
                    .col(big(Conversations::PatientId))
                    .col(big(Conversations::LastSeq))
                    .col(big(Conversations::LastActivityMs))
                    .col(big(Conversations::DoctorLastReadSeq))
                    .col(big(Conversations::PatientLastReadSeq))
                    .col(ColumnDef::new(Conversations::Closed).boolean().not_null())
                    .col(
                        ColumnDef::new(Conversations::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, party) in [
            ("idx_conversations_doctor_activity", Conversations::DoctorId),
            (
                "idx_conversations_patient_activity",
                Conversations::PatientId,
            ),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Conversations::Table)
                        .col(party)
                        .col(Conversations::LastActivityMs)
                        .col(Conversations::Id)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Messages::Table)
                    .if_not_exists()
                    .col(big(Messages::Id).auto_increment().primary_key().to_owned())
                    .col(big(Messages::ConversationId))
                    .col(big(Messages::Seq))
                    .col(big(Messages::SenderId))
                    .col(ColumnDef::new(Messages::Kind).string_len(8).not_null())
                    .col(ColumnDef::new(Messages::Text).text().null())
                    .col(ColumnDef::new(Messages::FileId).big_integer().null())
                    .col(
                        ColumnDef::new(Messages::CaseDocumentId)
                            .string_len(32)
                            .null(),
                    )
                    .col(ColumnDef::new(Messages::ClientId).string_len(64).not_null())
                    .col(big(Messages::CreatedAtMs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_messages_seq")
                    .table(Messages::Table)
                    .col(Messages::ConversationId)
                    .col(Messages::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_messages_client")
                    .table(Messages::Table)
                    .col(Messages::ConversationId)
                    .col(Messages::SenderId)
                    .col(Messages::ClientId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            Messages::Table.into_iden(),
            Conversations::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
