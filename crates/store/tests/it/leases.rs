//! Leases: one holder at a time, taken over once expired, renewed by the holder, freed on release.

use std::time::{Duration, Instant};

use switchboard_store::{Store, leases};

crate::conformance!(a_lease_has_one_holder_until_it_expires_or_is_released);

const LEASE: &str = "routing";

async fn acquire(store: &Store, holder: &'static str, ttl_ms: i64) -> bool {
    store
        .write(move |tx| leases::acquire(tx, LEASE, holder, &format!("http://{holder}.internal"), ttl_ms))
        .await
        .unwrap()
}

async fn holder(store: &Store) -> Option<leases::Holder> {
    store.read(|tx| leases::holder(tx, LEASE)).await.unwrap()
}

async fn a_lease_has_one_holder_until_it_expires_or_is_released(store: &Store) {
    assert_eq!(holder(store).await, None, "nobody holds a lease never taken");
    assert!(acquire(store, "a", 60_000).await, "the first node takes a free lease");
    assert!(!acquire(store, "b", 60_000).await, "a second node is refused while the lease lives");
    let held = holder(store).await.unwrap();
    assert_eq!((held.holder.as_str(), held.address.as_str()), ("a", "http://a.internal"));
    assert!((0..=60_000).contains(&held.expires_in_ms), "{held:?}");

    // The holder renews; a zero-length renewal leaves a lease that has already run out.
    assert!(acquire(store, "a", 60_000).await, "the holder renews");
    assert!(acquire(store, "a", 0).await);
    assert_eq!(holder(store).await, None, "an expired lease has no holder");
    assert!(acquire(store, "b", 2_000).await, "a second node takes an expired lease");
    assert!(!acquire(store, "a", 60_000).await, "the former holder is refused now");
    assert_eq!(holder(store).await.unwrap().holder, "b");

    // Left unrenewed, the lease runs out on the database's clock and the other node takes it over.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !acquire(store, "a", 60_000).await {
        assert!(Instant::now() < deadline, "the lease never expired: {:?}", holder(store).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(holder(store).await.unwrap().holder, "a");

    // Only the holder can release it, and then it is free at once.
    assert!(!store.write(|tx| leases::release(tx, LEASE, "b")).await.unwrap(), "b holds nothing to release");
    assert!(store.write(|tx| leases::release(tx, LEASE, "a")).await.unwrap());
    assert_eq!(holder(store).await, None);
    assert!(acquire(store, "b", 60_000).await, "a released lease is free");
}
