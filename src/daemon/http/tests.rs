use super::*;

#[test]
fn a_peer_is_an_ipv4_address_or_an_ipv6_64() {
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(peer_key(ip("10.1.2.3")), ip("10.1.2.3"));
    // The same host over an IPv6 socket.
    assert_eq!(peer_key(ip("::ffff:10.1.2.3")), ip("10.1.2.3"));
    // One host's /64 is one peer, whatever address of it the client picks.
    assert_eq!(peer_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
    assert_eq!(
        peer_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
        ip("2001:db8:1:2::")
    );
    assert_ne!(peer_key(ip("2001:db8:1:3::1")), ip("2001:db8:1:2::"));
}

#[test]
fn a_peer_holds_at_most_its_share_and_gets_it_back_as_connections_close() {
    let peers = Arc::new(Peers::default());
    let a = "127.0.0.1".parse().unwrap();
    let b = "127.0.0.2".parse().unwrap();
    let held: Vec<PeerSlot> = (0..3).map(|_| peers.enter(a, 3).unwrap()).collect();
    assert!(peers.enter(a, 3).is_none(), "a fourth connection of a");
    let other = peers
        .enter(b, 3)
        .expect("another peer is not held back by a");
    drop(held);
    drop(other);
    assert!(
        peers.0.lock().unwrap().is_empty(),
        "closed peers are forgotten"
    );
    assert!(peers.enter(a, 3).is_some());
}
