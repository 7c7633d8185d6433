//! Accounts, sessions, doctor and patient profiles, and the embedded document table.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    Role,
    Login,
    PasswordHash,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    AccountId,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Doctors {
    Table,
    AccountId,
    Name,
    Title,
    Department,
    Hospital,
    Specialties,
    Bio,
    AcceptingPatients,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Patients {
    Table,
    AccountId,
    Name,
    Gender,
    BirthDate,
    Phone,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Documents {
    Table,
    Collection,
    Id,
    Body,
    UpdatedAt,
}

fn id_pk<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

fn account_fk<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().to_owned()
}

fn text<T: IntoIden>(col: T, len: u32) -> ColumnDef {
    ColumnDef::new(col).string_len(len).not_null().to_owned()
}

fn timestamp<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Accounts::Table)
                    .if_not_exists()
                    .col(id_pk(Accounts::Id))
                    .col(text(Accounts::Role, 16))
                    .col(text(Accounts::Login, 254).unique_key().to_owned())
                    .col(text(Accounts::PasswordHash, 255))
                    .col(timestamp(Accounts::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .if_not_exists()
                    .col(id_pk(Sessions::Id))
                    .col(account_fk(Sessions::AccountId))
                    .col(text(Sessions::TokenHash, 64).unique_key().to_owned())
                    .col(timestamp(Sessions::CreatedAt))
                    .col(timestamp(Sessions::ExpiresAt))
                    .col(
                        ColumnDef::new(Sessions::RevokedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Sessions::Table, Sessions::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Doctors::Table)
                    .if_not_exists()
                    .col(account_fk(Doctors::AccountId).primary_key().to_owned())
                    .col(text(Doctors::Name, 100))
                    .col(text(Doctors::Title, 100))
                    .col(text(Doctors::Department, 100))
                    .col(text(Doctors::Hospital, 200))
                    .col(text(Doctors::Specialties, 500))
                    .col(ColumnDef::new(Doctors::Bio).text().not_null())
                    .col(
                        ColumnDef::new(Doctors::AcceptingPatients)
                            .boolean()
                            .not_null(),
                    )
                    .col(timestamp(Doctors::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Doctors::Table, Doctors::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("idx_doctors_department", Doctors::Department),
            ("idx_doctors_hospital", Doctors::Hospital),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Doctors::Table)
                        .col(col)
                        .col(Doctors::AccountId)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Patients::Table)
                    .if_not_exists()
                    .col(account_fk(Patients::AccountId).primary_key().to_owned())
                    .col(text(Patients::Name, 100))
                    .col(ColumnDef::new(Patients::Gender).string_len(32).null())
                    .col(ColumnDef::new(Patients::BirthDate).date().null())
                    .col(ColumnDef::new(Patients::Phone).string_len(32).null())
                    .col(timestamp(Patients::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Patients::Table, Patients::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Documents::Table)
                    .if_not_exists()
                    .col(text(Documents::Collection, 64))
                    .col(text(Documents::Id, 64))
                    .col(
                        ColumnDef::new(Documents::Body)
                            .custom(Alias::new("LONGTEXT"))
                            .not_null(),
                    )
                    .col(timestamp(Documents::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(Documents::Collection)
                            .col(Documents::Id),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Documents::Table.into_iden(),
            Patients::Table.into_iden(),
            Doctors::Table.into_iden(),
            Sessions::Table.into_iden(),
            Accounts::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
