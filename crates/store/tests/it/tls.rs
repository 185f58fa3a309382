//! PostgreSQL over TLS, as `sslmode` in the URL asks: on the server at `SWITCHBOARD_TEST_PG_URL`, whose certificate
//! is signed by the CA at `SWITCHBOARD_TEST_PG_CA` (scripts/test.sh gives the local cluster one). Whether a session
//! is encrypted is the server's word: `pg_stat_ssl`.

use switchboard_domain::Code;
use switchboard_store::{Store, StoreConfig, params};

use crate::pg_url;

fn ca() -> String {
    std::env::var("SWITCHBOARD_TEST_PG_CA").unwrap_or_else(|_| "/var/lib/postgresql/switchboard-test-tls/ca.pem".into())
}

fn unrelated_ca() -> String {
    format!("{}/tests/it/fixtures/unrelated-ca.pem", env!("CARGO_MANIFEST_DIR"))
}

/// The test server's URL with `params` added to its query.
fn with(params: &str) -> String {
    let url = pg_url();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{params}")
}

/// The same server reached by a name its certificate is not for: the connection goes to the URL's address.
fn by_another_name(params: &str) -> String {
    let url = pg_url();
    let (scheme_user, rest) = url.split_once('@').expect("the test URL names a user");
    let (host_port, db) = rest.split_once('/').expect("the test URL names a database");
    let (host, port) = host_port.split_once(':').unwrap_or((host_port, "5432"));
    format!("{scheme_user}@not-in-the-certificate.test:{port}/{db}?hostaddr={host}&{params}")
}

async fn open(url: String) -> Result<Store, switchboard_domain::Error> {
    Store::connect(&StoreConfig::Postgres { url, schema: None, pool_size: 1 }).await
}

async fn encrypted(store: &Store) -> bool {
    store
        .read(|tx| tx.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", params![])?.bool(0))
        .await
        .unwrap()
}

#[tokio::test]
async fn require_connects_over_tls_and_disable_without() {
    let store = open(with("sslmode=require")).await.unwrap();
    assert!(encrypted(&store).await, "sslmode=require is encrypted");
    let store = open(with("sslmode=disable")).await.unwrap();
    assert!(!encrypted(&store).await, "sslmode=disable is not");
    // libpq's default: TLS when the server offers it, as this one does.
    let store = open(pg_url()).await.unwrap();
    assert!(encrypted(&store).await, "no sslmode means prefer");
}

#[tokio::test]
async fn verify_full_takes_a_certificate_from_the_ca_for_the_host_only() {
    let store = open(with(&format!("sslmode=verify-full&sslrootcert={}", ca()))).await.unwrap_or_else(|e| {
        panic!("verify-full with the server's CA ({}; scripts/test.sh sets it up): {e} {:?}", ca(), e.source)
    });
    assert!(encrypted(&store).await);

    let refused = open(with(&format!("sslmode=verify-full&sslrootcert={}", unrelated_ca()))).await.err().unwrap();
    assert_eq!(refused.code, Code::Unavailable);
    assert!(refused.detail.contains("sslmode=verify-full"), "{}", refused.detail);
    assert!(refused.detail.contains("invalid peer certificate: UnknownIssuer"), "{}", refused.detail);
    // require checks the certificate once given a CA, as libpq does.
    let refused = open(with(&format!("sslmode=require&sslrootcert={}", unrelated_ca()))).await.err().unwrap();
    assert!(refused.detail.contains("UnknownIssuer"), "{}", refused.detail);

    // By a name the certificate is not for: verify-full refuses, verify-ca (the CA only) connects.
    let refused = open(by_another_name(&format!("sslmode=verify-full&sslrootcert={}", ca()))).await.err().unwrap();
    assert!(refused.detail.contains("certificate not valid for name"), "{}", refused.detail);
    let store = open(by_another_name(&format!("sslmode=verify-ca&sslrootcert={}", ca()))).await.unwrap();
    assert!(encrypted(&store).await);
}

#[tokio::test]
async fn a_bad_sslmode_or_ca_file_is_refused_before_connecting() {
    for (params, says) in [
        ("sslmode=verify", "sslmode `verify` is not one of disable, prefer, require, verify-ca, verify-full"),
        ("sslmode=verify-full", "sslmode=verify-full needs sslrootcert=/path/to/ca.pem"),
        ("sslmode=verify-ca", "sslmode=verify-ca needs sslrootcert=/path/to/ca.pem"),
        ("sslmode=verify-full&sslrootcert=/nonexistent/ca.pem", "sslrootcert /nonexistent/ca.pem"),
        ("sslmode=require&sslrootcert=%2", "bad percent escape"),
    ] {
        let refused = open(with(params)).await.err().unwrap_or_else(|| panic!("{params} was taken"));
        assert_eq!((refused.code, refused.field.as_deref()), (Code::InvalidField, Some("database_url")), "{params}");
        assert!(refused.detail.contains(says), "{params}: {}", refused.detail);
    }
}
