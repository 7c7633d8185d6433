/// `schema.graphql` must equal what the code builds. Regenerate with
/// `cargo run -- export-schema > schema.graphql`.
#[test]
fn schema_file_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let stored = std::fs::read_to_string(&path).unwrap_or_default();
    let built = drseek::schema::sdl();
    assert!(
        stored == built,
        "schema.graphql is out of date: run `cargo run -q -- export-schema > schema.graphql`"
    );
}

/// Every code in the error catalogue is one the schema's error type can produce.
#[test]
fn error_codes_are_the_documented_set() {
    assert_eq!(
        drseek::error::CODES,
        &[
            "UNAUTHENTICATED",
            "FORBIDDEN",
            "NOT_FOUND",
            "BAD_USER_INPUT",
            "CONFLICT",
            "RATE_LIMITED",
            "PAYLOAD_TOO_LARGE",
            "UNAVAILABLE",
            "INTERNAL",
            "RESYNC_REQUIRED"
        ]
    );
}
