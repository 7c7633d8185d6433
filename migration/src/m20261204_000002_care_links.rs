//! Care links (the contact book), the change sequence that versions contact
//! books, doctors' invite codes, and profile versions.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CareLinks {
    Table,
    Id,
    DoctorId,
    PatientId,
    Status,
    IsOpen,
    OpenKey,
    Version,
    RequestedAt,
    RespondedAt,
    EndedAt,
    EndedBy,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ChangeSeq {
    Table,
    Id,
    Value,
}

#[derive(DeriveIden)]
enum Doctors {
    Table,
    InviteCode,
    Version,
}

#[derive(DeriveIden)]
enum Patients {
    Table,
    AccountId,
    Version,
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CareLinks::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(CareLinks::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(CareLinks::DoctorId).big_integer().not_null())
                    .col(
                        ColumnDef::new(CareLinks::PatientId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(CareLinks::Status).string_len(16).not_null())
                    .col(ColumnDef::new(CareLinks::IsOpen).boolean().not_null())
                    // "doctor:patient" while PENDING or ACTIVE, NULL after: at most one open link per pair.
                    .col(ColumnDef::new(CareLinks::OpenKey).string_len(48).null())
                    .col(ColumnDef::new(CareLinks::Version).big_integer().not_null())
                    .col(
                        ColumnDef::new(CareLinks::RequestedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CareLinks::RespondedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(CareLinks::EndedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(CareLinks::EndedBy).big_integer().null())
                    .col(
                        ColumnDef::new(CareLinks::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(CareLinks::Table, CareLinks::DoctorId)
                            .to(Accounts::Table, Accounts::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(CareLinks::Table, CareLinks::PatientId)
                            .to(Accounts::Table, Accounts::Id),
                    )
                    .to_owned(),
            )
            .await?;
        let indexes: [(&str, Vec<CareLinks>, bool); 7] = [
            ("ux_care_links_open", vec![CareLinks::OpenKey], true),
            (
                "idx_care_links_doctor_book",
                vec![CareLinks::DoctorId, CareLinks::IsOpen, CareLinks::Id],
                false,
            ),
            (
                "idx_care_links_patient_book",
                vec![CareLinks::PatientId, CareLinks::IsOpen, CareLinks::Id],
                false,
            ),
            (
                "idx_care_links_doctor",
                vec![CareLinks::DoctorId, CareLinks::Status, CareLinks::Id],
                false,
            ),
            (
                "idx_care_links_patient",
                vec![CareLinks::PatientId, CareLinks::Status, CareLinks::Id],
                false,
            ),
            (
                "idx_care_links_doctor_version",
                vec![CareLinks::DoctorId, CareLinks::Version],
                false,
            ),
            (
                "idx_care_links_patient_version",
                vec![CareLinks::PatientId, CareLinks::Version],
                false,
            ),
        ];
        for (name, cols, unique) in indexes {
            let mut index = Index::create();
            index.name(name).table(CareLinks::Table);
            for c in cols {
                index.col(c);
            }
            if unique {
                index.unique();
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(ChangeSeq::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(ChangeSeq::Id)
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ChangeSeq::Value).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(ChangeSeq::Table)
                    .columns([ChangeSeq::Id, ChangeSeq::Value])
                    .values_panic([1.into(), 0.into()])
                    .to_owned(),
            )
            .await?;
        // SQLite cannot add a UNIQUE column: add it plain, then index it.
        manager
            .alter_table(
                Table::alter()
                    .table(Doctors::Table)
                    .add_column(ColumnDef::new(Doctors::InviteCode).string_len(32).null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Doctors::Table)
                    .add_column(
                        ColumnDef::new(Doctors::Version)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_doctors_invite_code")
                    .table(Doctors::Table)
                    .col(Doctors::InviteCode)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Patients::Table)
                    .add_column(
                        ColumnDef::new(Patients::Version)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_patients_version")
                    .table(Patients::Table)
                    .col(Patients::Version)
                    .col(Patients::AccountId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ChangeSeq::Table).if_exists().to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(CareLinks::Table).if_exists().to_owned())
            .await?;
        Ok(())
    }
}
