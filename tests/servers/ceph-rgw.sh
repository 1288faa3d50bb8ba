#!/bin/sh
# A one-node Ceph cluster with a RADOS gateway (S3) on 127.0.0.1, all state in one
# directory, no systemd, no authentication inside the cluster: for tests and benchmarks.
#
#   ceph-rgw.sh DIR RGW_PORT MON_PORT ACCESS_KEY SECRET_KEY [MEMSTORE_BYTES]
#
# Returns once the gateway answers and the user exists; the daemons keep running, their
# PIDs in DIR/pids (stop them with `kill $(cat DIR/pids)`). Needs Debian's ceph-mon,
# ceph-osd and radosgw. Objects live in memory (memstore, 2 GiB unless MEMSTORE_BYTES).
set -eu
dir=$1 rgw_port=$2 mon_port=$3 access=$4 secret=$5 memstore=${6:-2147483648}
mkdir -p "$dir/mon" "$dir/osd" "$dir/run" "$dir/log" "$dir/rgw"
conf=$dir/ceph.conf
fsid=$(cat /proc/sys/kernel/random/uuid)
cat > "$conf" <<CONF
[global]
fsid = $fsid
mon_host = v1:127.0.0.1:$mon_port
ms_bind_msgr2 = false
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
osd_objectstore = memstore
memstore_device_bytes = $memstore
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_crush_chooseleaf_type = 0
mon_warn_on_pool_no_redundancy = false
# The monitor refuses to start when its disk has no more than crit% free, and the
# percentage is an integer: at 0 it still refuses below 1% free (a shared CI disk
# can be that full), so -1 turns the check off; the warning likewise.
mon_data_avail_crit = -1
mon_data_avail_warn = -1
run_dir = $dir/run
log_file = $dir/log/\$name.log
admin_socket = $dir/run/\$name.asok
keyring = $dir/keyring
[mon]
mon_data = $dir/mon/\$cluster-\$id
[osd]
osd_data = $dir/osd/\$cluster-\$id
osd_max_object_size = 1073741824
[client.rgw]
rgw_frontends = beast endpoint=127.0.0.1:$rgw_port tcp_nodelay=1
rgw_data = $dir/rgw
rgw_enable_usage_log = false
rgw_max_chunk_size = 4194304
CONF
: > "$dir/pids"
# Every wait is bounded: a cluster that does not come up fails the caller within
# CEPH_RGW_TIMEOUT seconds, naming the daemon and printing the tails of the logs (on a CI
# machine those lines are all anyone will see).
deadline=$(( $(date +%s) + ${CEPH_RGW_TIMEOUT:-180} ))
fail() {
    echo "ceph-rgw.sh: $1" >&2
    for f in "$dir"/log/*; do
        [ -f "$f" ] || continue
        echo "--- $f (last 25 lines)" >&2
        tail -n 25 "$f" >&2
    done
    df -h "$dir" >&2 || true
    exit 1
}
alive() { kill -0 "$1" 2>/dev/null || fail "$2 exited"; }
in_time() { [ "$(date +%s)" -lt "$deadline" ] || fail "$1 within ${CEPH_RGW_TIMEOUT:-180} s"; }
ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
monmaptool --create --addv a "v1:127.0.0.1:$mon_port" --fsid "$fsid" "$dir/monmap" >/dev/null
timeout 60 ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring" \
    >"$dir/log/mon-mkfs.out" 2>&1 || fail "ceph-mon --mkfs failed"
ceph-mon -c "$conf" -i a -f >"$dir/log/mon.out" 2>&1 &
mon=$!
echo $mon >> "$dir/pids"
uuid=$(cat /proc/sys/kernel/random/uuid)
# A client that asks before it has the monitor map is refused now and then ("EPERM:
# problem getting command descriptions", the monitor logging fsid 0 against its own);
# asking again gets through. `osd new` of one uuid is idempotent.
until id=$(timeout 30 ceph -c "$conf" osd new "$uuid" 2>>"$dir/log/osd-new.out"); do
    alive $mon ceph-mon; in_time "the monitor did not answer"
    sleep 0.5
done
# Now and then (1 start in 6 here) ceph-osd 16.2 aborts at start-up (map::at, after a
# "wrong fsid" from the monitor); a fresh mkfs and start gets past it.
osd_starts=0
start_osd() {
    osd_starts=$((osd_starts + 1))
    rm -rf "$dir/osd/ceph-$id"
    mkdir -p "$dir/osd/ceph-$id"
    timeout 60 ceph-osd -c "$conf" -i "$id" --mkfs --osd-uuid "$uuid" >"$dir/log/osd-mkfs.out" 2>&1 \
        || fail "ceph-osd --mkfs failed"
    ceph-osd -c "$conf" -i "$id" -f >>"$dir/log/osd.out" 2>&1 &
    osd=$!
    echo $osd >> "$dir/pids"
}
start_osd
until timeout 10 ceph -c "$conf" osd stat 2>/dev/null | grep -q "1 up"; do
    alive $mon ceph-mon
    if ! kill -0 $osd 2>/dev/null; then
        [ $osd_starts -lt 5 ] || fail "ceph-osd exited at each of $osd_starts starts"
        start_osd
    fi
    in_time "the OSD did not come up"
    sleep 0.5
done
radosgw -c "$conf" -n client.rgw -f >"$dir/log/rgw.out" 2>&1 &
rgw=$!
echo $rgw >> "$dir/pids"
until timeout 30 radosgw-admin -c "$conf" user create --uid=test --display-name=test \
        --access-key="$access" --secret="$secret" >"$dir/log/user.out" 2>&1; do
    alive $rgw radosgw; in_time "radosgw-admin could not create the user"
    sleep 0.5
done
# The gateway answers S3 once its frontend is up.
until curl -s --max-time 5 -o /dev/null "http://127.0.0.1:$rgw_port/"; do
    alive $rgw radosgw; in_time "the gateway did not answer on 127.0.0.1:$rgw_port"
    sleep 0.5
done
