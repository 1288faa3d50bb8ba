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
ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
monmaptool --create --addv a "v1:127.0.0.1:$mon_port" --fsid "$fsid" "$dir/monmap" >/dev/null
ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring" >/dev/null 2>&1
ceph-mon -c "$conf" -i a -f >/dev/null 2>&1 &
echo $! >> "$dir/pids"
uuid=$(cat /proc/sys/kernel/random/uuid)
id=$(timeout 60 ceph -c "$conf" osd new "$uuid")
mkdir -p "$dir/osd/ceph-$id"
ceph-osd -c "$conf" -i "$id" --mkfs --osd-uuid "$uuid" >/dev/null 2>&1
ceph-osd -c "$conf" -i "$id" -f >/dev/null 2>&1 &
echo $! >> "$dir/pids"
for _ in $(seq 120); do
    timeout 10 ceph -c "$conf" osd stat 2>/dev/null | grep -q "1 up" && break
    sleep 0.5
done
radosgw -c "$conf" -n client.rgw -f >/dev/null 2>&1 &
echo $! >> "$dir/pids"
for _ in $(seq 240); do
    if timeout 30 radosgw-admin -c "$conf" user create --uid=test --display-name=test \
        --access-key="$access" --secret="$secret" >/dev/null 2>&1; then
        # The gateway answers S3 once its frontend is up.
        for _ in $(seq 120); do
            curl -s -o /dev/null "http://127.0.0.1:$rgw_port/" && exit 0
            sleep 0.5
        done
    fi
    sleep 0.5
done
echo "ceph-rgw.sh: the gateway did not come up (logs in $dir/log)" >&2
exit 1
