//! The Kafka test broker: it starts, and its helpers create topics, add partitions,
//! produce (keyed, unkeyed, tombstones, to a partition) and read everything back.

use std::time::Instant;

use eddy_testkit::{Isolation, Kafka, TestRecord};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_round_trip() {
    let started = Instant::now();
    let kafka = Kafka::start().expect("kafka starts");
    eprintln!("kafka ready in {:.1}s", started.elapsed().as_secs_f64());

    let topic = kafka.unique_topic("roundtrip");
    kafka.create_topic(&topic, 2).await.unwrap();
    let positions = kafka
        .produce(
            &topic,
            [
                TestRecord::value("a").to_partition(0),
                TestRecord::keyed("k", "b").to_partition(1),
                TestRecord::tombstone("k").to_partition(1),
            ],
        )
        .await
        .unwrap();
    assert_eq!(positions, vec![(0, 0), (1, 0), (1, 1)]);

    kafka.add_partitions(&topic, 3).await.unwrap();
    kafka
        .produce(&topic, [TestRecord::value("c").to_partition(2)])
        .await
        .unwrap();

    let records = kafka
        .read_all(&topic, Isolation::ReadCommitted)
        .await
        .unwrap();
    let seen: Vec<_> = records
        .iter()
        .map(|r| (r.partition, r.offset, r.key.clone(), r.value.clone()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (0, 0, None, Some(b"a".to_vec())),
            (1, 0, Some(b"k".to_vec()), Some(b"b".to_vec())),
            (1, 1, Some(b"k".to_vec()), None),
            (2, 0, None, Some(b"c".to_vec())),
        ]
    );
    // An empty topic reads as nothing, without waiting for a timeout.
    let empty = kafka.unique_topic("empty");
    kafka.create_topic(&empty, 1).await.unwrap();
    assert!(kafka
        .read_all(&empty, Isolation::ReadUncommitted)
        .await
        .unwrap()
        .is_empty());
}
