//! Analytics intervals: counts add up per queue and interval, waits are kept and ended, and the worker's place is
//! saved only by the writer that read it.

use switchboard_domain::{Code, Timestamp, ids::*};
use switchboard_store::{
    Store,
    analytics::{self, Counts, INTERVAL_MS, Place, Wait, interval_start},
};

crate::conformance!(intervals_add_up_and_the_place_saves_once);

async fn intervals_add_up_and_the_place_saves_once(store: &Store) {
    let (org, other_org, queue, other_queue) = (OrgId::new(), OrgId::new(), QueueId::new(), QueueId::new());
    let start = interval_start(Timestamp::from_millis(1_744_720_620_123));
    assert_eq!(start.millis() % INTERVAL_MS, 0);
    let one = Counts { arrivals: 2, answered: 1, abandoned: 0, wait_ms_sum: 5_000, answered_in_target: 1 };
    let later = start.plus_millis(INTERVAL_MS);
    store
        .write(move |tx| {
            analytics::add(tx, org, queue, start, &one)?;
            analytics::add(tx, org, queue, start, &Counts { abandoned: 1, ..Counts::default() })?;
            analytics::add(tx, org, other_queue, later, &one)?;
            analytics::add(tx, other_org, queue, start, &one)
        })
        .await
        .unwrap();

    let end = later.plus_millis(INTERVAL_MS);
    let all = store.read(move |tx| analytics::intervals(tx, org, None, start, end)).await.unwrap();
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!((all[0].queue_id, all[0].start), (queue, start));
    assert_eq!(all[0].counts, Counts { abandoned: 1, ..one });
    let only = store.read(move |tx| analytics::intervals(tx, org, Some(other_queue), start, end)).await.unwrap();
    assert_eq!(only.iter().map(|i| i.start).collect::<Vec<_>>(), [later]);
    let totals = store.read(move |tx| analytics::totals_since(tx, org, later)).await.unwrap();
    assert_eq!((totals.len(), totals[&other_queue]), (1, one));

    let (waiting, gone) = (ConversationId::new(), ConversationId::new());
    let wait = Wait { org_id: org, queue_id: queue, since: start };
    store
        .write(move |tx| {
            analytics::set_wait(tx, waiting, &wait)?;
            analytics::set_wait(tx, gone, &wait)?;
            analytics::set_wait(tx, waiting, &Wait { queue_id: other_queue, ..wait })?;
            analytics::end_wait(tx, gone)
        })
        .await
        .unwrap();
    let waits = store.read(move |tx| analytics::waits(tx, &[waiting, gone])).await.unwrap();
    assert_eq!(waits.len(), 1);
    assert_eq!(waits[&waiting].queue_id, other_queue);

    // The first save creates the place; a save from a stale version is refused and changes nothing.
    assert_eq!(store.read(|tx| analytics::place(tx, "t")).await.unwrap(), Place::default());
    let next = Place { after: 7, high: 9, awaited: vec![8], version: 0 };
    let saved = next.clone();
    assert_eq!(store.write(move |tx| analytics::save_place(tx, "t", 0, &saved)).await.unwrap(), 1);
    let stale = Place { after: 20, high: 20, awaited: vec![], version: 0 };
    let again = stale.clone();
    let refused = store.write(move |tx| analytics::save_place(tx, "t", 0, &again)).await.unwrap_err();
    assert_eq!(refused.code, Code::AlreadyExists);
    assert_eq!(store.read(|tx| analytics::place(tx, "t")).await.unwrap(), Place { version: 1, ..next });
    assert_eq!(store.write(move |tx| analytics::save_place(tx, "t", 1, &stale)).await.unwrap(), 2);
}
