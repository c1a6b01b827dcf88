#!/usr/bin/env bash
# Open vSwitch lab for plumb's end-to-end test (see fixtures/ovs/MANIFEST.md in the repository).
#
#   lab.sh up      WORKDIR                           build namespaces + OVS (userspace datapath)
#   lab.sh exec    WORKDIR CMD...                    run CMD in the switch namespace (exec'd, same PID)
#   lab.sh export  WORKDIR IPFIX_PORT NETFLOW_PORT [SFLOW_PORT]
#                                                    bridge IPFIX + NetFlow v5 (+ sFlow: every
#                                                    packet sampled, 128-byte headers, counters
#                                                    every 2 s) on br-int -> 127.0.0.1
#                                                    (a port of "-" leaves that exporter off)
#   lab.sh unexport WORKDIR                          remove IPFIX/NetFlow/sFlow from br-int
#   lab.sh traffic WORKDIR                           5 pings vm1->vm2 and 5 pings vm1->10.200.0.2 (VXLAN)
#   lab.sh down    WORKDIR                           stop daemons (pidfiles), delete namespaces; idempotent
#
# Topology (all interfaces live inside the lab's namespaces, nothing in the caller's netns):
#
#   ns <p>-vm1:  eth0 10.200.0.1/24 ──veth── vm1 ┐
#   ns <p>-vm2:  eth0 10.200.0.3/24 ──veth── vm2 ├ br-int (netdev)   ns <p>-sw: ovsdb-server,
#                                         vxlan0 ┘  key=5001          ovs-vswitchd, lo up
#                    (userspace tunnel, remote_ip=172.31.1.2)         (collector runs here)
#                                           phy0 ─ br-phy (netdev) 172.31.1.1/24 (local VTEP)
#   ns <p>-peer: eth0 172.31.1.2/24 ──veth── phy0
#                vxlan0 (Linux, VNI 5001, dstport 4789) 10.200.0.2/24
#
# OpenFlow ports on br-int: vm2=1, vm1=2, vxlan0=3 (as in the fixtures); ifindexes in the switch
# netns: lo=1 vm1=2 vm2=3 phy0=4 (then OVS taps ovs-netdev, br-int, br-phy). MACs are fixed:
# vm1 02:00:0a:c8:00:01, vm2 02:00:0a:c8:00:03, peer vxlan0 02:00:0a:c8:00:02.
#
# <p> = "pl" + first 8 hex digits of sha1(realpath WORKDIR), so parallel labs don't collide.
# State under WORKDIR/ovs/{db,run,log}; pidfiles WORKDIR/ovs/run/{ovsdb-server,ovs-vswitchd}.pid.
# "exec" exports OVS_RUNDIR etc., so `lab.sh exec WD ovs-vsctl show` / `ovs-appctl ...` just work.
# "down" also stops anything still running inside the lab's namespaces (e.g. a collector started
# with "exec"), then deletes the namespaces (which removes every veth/vxlan device).
#
# Notes for tests (OVS 3.1, userspace datapath):
# * OVS sends the IPFIX templates (88 in 18 messages + options template 462) together with the
#   FIRST data record, not when export is configured: with cache_active_timeout=2 they arrive
#   ~2-2.5 s after the first sampled packet. Records of the "traffic" pings arrive within ~2 s
#   after "traffic" returns; NetFlow v5 (active_timeout=2) likewise.
# * The collector must be listening before "export": OVS uses connected UDP sockets, so while
#   nothing listens every other datagram is lost to ICMP port-unreachable (ECONNREFUSED).
# * IPv6 stays enabled in the namespaces (like the fixtures): ICMPv6 ND/MLD records (templates
#   312/313, and 314 with tunnel IEs) show up in the first seconds after "up"; counts of the
#   pings can be split over several records (active timeout): sum packetDeltaCount per flow.
# * Detached daemons are reparented to PID 1; after "down" they may linger as zombies until
#   PID 1 reaps them.
#
# Output: nothing on success; errors on stderr (exit 1); "SKIP: reason" on stdout + exit 3 when
# the environment cannot host the lab (not root, no netns/veth/vxlan, OVS or tools missing).

set -u -o pipefail

PROG=lab.sh
usage() {
    echo "usage: $PROG up|down|traffic|unexport WORKDIR | exec WORKDIR CMD... | export WORKDIR IPFIX_PORT NETFLOW_PORT [SFLOW_PORT]" >&2
    exit 2
}

die() { echo "$PROG: error: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 3; }

[ $# -ge 2 ] || usage
CMD=$1
WD=$(realpath -m -- "$2") || die "bad WORKDIR '$2'"
shift 2

HASH=$(printf '%s' "$WD" | sha1sum | cut -c1-8)
P="pl${HASH}"
NS_SW="${P}-sw"
NS_VM1="${P}-vm1"
NS_VM2="${P}-vm2"
NS_PEER="${P}-peer"
ALL_NS="$NS_SW $NS_VM1 $NS_VM2 $NS_PEER"

OVSDIR="$WD/ovs"
export OVS_RUNDIR="$OVSDIR/run" OVS_DBDIR="$OVSDIR/db" OVS_LOGDIR="$OVSDIR/log"
export OVS_PKGDATADIR="${OVS_PKGDATADIR:-/usr/share/openvswitch}"
DB_SOCK="$OVS_RUNDIR/db.sock"
SCHEMA="$OVS_PKGDATADIR/vswitch.ovsschema"

ns_exists() { [ -e "/run/netns/$1" ]; }

# Run a command quietly; on failure print the command and its output to stderr, return its status.
q() {
    local out rc
    out=$("$@" 2>&1)
    rc=$?
    if [ $rc -ne 0 ]; then
        echo "$PROG: command failed (exit $rc): $*" >&2
        [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/    /' >&2
    fi
    return $rc
}

vsctl() { ovs-vsctl --db="unix:$DB_SOCK" --timeout=30 "$@"; }

# ---------------------------------------------------------------------------------------------
# down
# ---------------------------------------------------------------------------------------------

# alive PID: process exists and is not a zombie (detached daemons are reparented to PID 1,
# which may take a while to reap them).
alive() {
    local st
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    st=${st##*) }
    [ "${st%% *}" != Z ]
}

# wait_gone PID SECONDS: poll until PID no longer runs.
wait_gone() {
    local pid=$1 n=$(( $2 * 20 ))
    while [ $n -gt 0 ] && alive "$pid"; do sleep 0.05; n=$((n - 1)); done
    ! alive "$pid"
}

# daemon_pid NAME: print the pid from $OVS_RUNDIR/NAME.pid if that process is alive and really
# is NAME (guards against a recycled pid).
daemon_pid() {
    local pid
    [ -f "$OVS_RUNDIR/$1.pid" ] || return 0
    pid=$(tr -dc '0-9' <"$OVS_RUNDIR/$1.pid" 2>/dev/null)
    [ -n "$pid" ] && alive "$pid" || return 0
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] && echo "$pid"
    return 0
}

# stop_pids PID...: TERM all, wait up to 10 s, then KILL the rest.
stop_pids() {
    local pid
    [ $# -gt 0 ] || return 0
    kill -TERM "$@" 2>/dev/null
    for pid in "$@"; do wait_gone "$pid" 10 || kill -KILL "$pid" 2>/dev/null; done
    for pid in "$@"; do wait_gone "$pid" 5 || echo "$PROG: warning: pid $pid did not exit" >&2; done
}

do_down() {
    local ns pid
    # ovs-vswitchd needs ~2 s to exit after SIGTERM (netdev datapath teardown): stop both at once
    stop_pids $(daemon_pid ovs-vswitchd) $(daemon_pid ovsdb-server)
    rm -f "$OVS_RUNDIR/ovs-vswitchd.pid" "$OVS_RUNDIR/ovsdb-server.pid"
    # Anything still running inside the lab's own namespaces was started through this lab
    # (e.g. "lab.sh exec", or daemons whose pidfile was lost): stop it so the netns goes away.
    for ns in $ALL_NS; do
        ns_exists "$ns" || continue
        stop_pids $(ip netns pids "$ns" 2>/dev/null)
        ip netns del "$ns" 2>/dev/null || { ns_exists "$ns" && echo "$PROG: warning: could not delete netns $ns" >&2; }
    done
    rm -f "$OVS_RUNDIR"/*.sock "$OVS_RUNDIR"/*.ctl "$OVS_RUNDIR"/*.mgmt "$OVS_RUNDIR"/*.snoop 2>/dev/null
    for ns in $ALL_NS; do ns_exists "$ns" && return 1; done
    return 0
}

# ---------------------------------------------------------------------------------------------
# up
# ---------------------------------------------------------------------------------------------

# Abort a partial "up": tear down what was built (logs under WORKDIR/ovs/log stay), then exit.
up_fail() { do_down >/dev/null 2>&1; die "$* (logs: $OVS_LOGDIR)"; }
up_skip() { do_down >/dev/null 2>&1; skip "$*"; }

# retry N SLEEP CMD...: run CMD up to N times until it succeeds (quietly).
retry() {
    local n=$1 s=$2; shift 2
    while [ "$n" -gt 0 ]; do
        "$@" >/dev/null 2>&1 && return 0
        n=$((n - 1)); [ "$n" -gt 0 ] && sleep "$s"
    done
    return 1
}

# ping1 NS DST: one ping, 1 s deadline.
ping1() { ip netns exec "$1" ping -n -q -c 1 -W 1 -w 2 "$2"; }

do_up() {
    local t ns out
    [ "$(id -u)" = 0 ] || skip "needs root (network namespaces, veth, OVS)"
    for t in ip ovsdb-tool ovsdb-server ovs-vswitchd ovs-vsctl ovs-appctl ping ethtool sha1sum realpath; do
        command -v "$t" >/dev/null 2>&1 || skip "missing tool '$t' (apt-get install iproute2 openvswitch-switch iputils-ping ethtool)"
    done
    [ -f "$SCHEMA" ] || skip "OVS schema not found: $SCHEMA"
    [ -c /dev/net/tun ] || skip "/dev/net/tun missing (OVS netdev datapath needs tap devices)"
    for ns in $ALL_NS; do
        ns_exists "$ns" && die "lab already up for $WD (netns $ns exists); run '$PROG down $WD' first"
    done

    mkdir -p "$OVS_RUNDIR" "$OVS_DBDIR" "$OVS_LOGDIR" || die "cannot create $OVSDIR"

    # --- namespaces ---
    for ns in $ALL_NS; do
        out=$(ip netns add "$ns" 2>&1) || up_skip "cannot create network namespace ($out)"
        out=$(ip -n "$ns" link set lo up 2>&1) || up_skip "cannot configure netns $ns ($out)"
    done
    # ip netns exec needs to remount /sys: check it works here
    out=$(ip netns exec "$NS_SW" true 2>&1) || up_skip "ip netns exec not permitted ($out)"

    # --- veths, created straight into the namespaces (switch side first: ifindex vm1=2 vm2=3 phy0=4) ---
    out=$(ip -n "$NS_SW" link add vm1 type veth peer name eth0 netns "$NS_VM1" 2>&1) || up_skip "cannot create veth ($out)"
    q ip -n "$NS_SW" link add vm2 type veth peer name eth0 netns "$NS_VM2" || up_fail "veth vm2"
    q ip -n "$NS_SW" link add phy0 type veth peer name eth0 netns "$NS_PEER" || up_fail "veth phy0"
    for t in vm1 vm2 phy0; do q ip -n "$NS_SW" link set "$t" up || up_fail "link up $t"; done

    # --- VMs ---
    q ip -n "$NS_VM1" link set eth0 address 02:00:0a:c8:00:01 || up_fail "vm1 mac"
    q ip -n "$NS_VM2" link set eth0 address 02:00:0a:c8:00:03 || up_fail "vm2 mac"
    q ip -n "$NS_VM1" addr add 10.200.0.1/24 dev eth0 || up_fail "vm1 address"
    q ip -n "$NS_VM2" addr add 10.200.0.3/24 dev eth0 || up_fail "vm2 address"
    for ns in "$NS_VM1" "$NS_VM2"; do
        # userspace datapath does not complete partial checksums: TCP would never connect
        q ip netns exec "$ns" ethtool -K eth0 tx off || up_fail "ethtool -K eth0 tx off in $ns"
        q ip -n "$ns" link set eth0 up || up_fail "link up in $ns"
    done

    # --- VXLAN peer (Linux vxlan device) ---
    q ip -n "$NS_PEER" addr add 172.31.1.2/24 dev eth0 || up_fail "peer underlay address"
    q ip netns exec "$NS_PEER" ethtool -K eth0 tx off || up_fail "ethtool -K eth0 tx off in $NS_PEER"
    q ip -n "$NS_PEER" link set eth0 up || up_fail "peer link up"
    out=$(ip -n "$NS_PEER" link add vxlan0 address 02:00:0a:c8:00:02 type vxlan id 5001 dstport 4789 \
            local 172.31.1.2 remote 172.31.1.1 dev eth0 2>&1) || up_skip "cannot create Linux vxlan device ($out)"
    ip netns exec "$NS_PEER" ethtool -K vxlan0 tx off >/dev/null 2>&1   # best effort
    q ip -n "$NS_PEER" addr add 10.200.0.2/24 dev vxlan0 || up_fail "peer vxlan address"
    q ip -n "$NS_PEER" link set vxlan0 up || up_fail "peer vxlan up"

    # --- OVS daemons, plain processes in the switch netns ---
    rm -f "$OVS_DBDIR/conf.db" "$OVS_DBDIR/.conf.db.~lock~"
    q ovsdb-tool create "$OVS_DBDIR/conf.db" "$SCHEMA" || up_fail "ovsdb-tool create"
    q ip netns exec "$NS_SW" ovsdb-server "$OVS_DBDIR/conf.db" \
        --remote="punix:$DB_SOCK" \
        --pidfile="$OVS_RUNDIR/ovsdb-server.pid" \
        --log-file="$OVS_LOGDIR/ovsdb-server.log" -vconsole:off --no-chdir --detach \
        || up_fail "cannot start ovsdb-server"
    q vsctl --no-wait init || up_fail "ovs-vsctl init"
    q ip netns exec "$NS_SW" ovs-vswitchd "unix:$DB_SOCK" \
        --pidfile="$OVS_RUNDIR/ovs-vswitchd.pid" \
        --log-file="$OVS_LOGDIR/ovs-vswitchd.log" -vconsole:off --no-chdir --detach \
        || up_fail "cannot start ovs-vswitchd"

    # --- bridges (ovs-vsctl waits until ovs-vswitchd applied the change) ---
    q vsctl \
        -- add-br br-int -- set bridge br-int datapath_type=netdev \
        -- add-port br-int vm2 -- set interface vm2 ofport_request=1 \
        -- add-port br-int vm1 -- set interface vm1 ofport_request=2 \
        -- add-port br-int vxlan0 -- set interface vxlan0 type=vxlan ofport_request=3 \
              options:remote_ip=172.31.1.2 options:key=5001 \
        -- add-br br-phy -- set bridge br-phy datapath_type=netdev \
        -- add-port br-phy phy0 \
        || up_fail "cannot create bridges"
    for t in vm1 vm2 vxlan0 phy0; do
        out=$(vsctl get interface "$t" error 2>&1)
        [ "$out" = "[]" ] || up_fail "OVS port $t: $out"
    done

    # --- local VTEP on br-phy's tap; OVS learns the route from the netns' kernel table ---
    q ip -n "$NS_SW" addr add 172.31.1.1/24 dev br-phy || up_fail "br-phy address"
    q ip -n "$NS_SW" link set br-phy up || up_fail "br-phy up"
    retry 50 0.2 sh -c "ovs-appctl --timeout=10 ovs/route/show | grep -q '172.31.1.0/24 dev br-phy'" \
        || up_fail "OVS did not learn the route 172.31.1.0/24 dev br-phy"

    # --- warm up: underlay ARP (OVS snoops it into tnl/neigh), overlay ARP, forwarding ---
    retry 10 0.5 ping1 "$NS_SW" 172.31.1.2 || up_fail "underlay: switch ns cannot ping 172.31.1.2 via br-phy"
    retry 20 0.5 sh -c "ovs-appctl --timeout=10 tnl/neigh/show | grep -q '172.31.1.2 '" \
        || up_fail "OVS has no tunnel neighbour entry for 172.31.1.2"
    retry 10 0.5 ping1 "$NS_VM1" 10.200.0.3 || up_fail "br-int: vm1 cannot ping vm2 (10.200.0.3)"
    retry 10 0.5 ping1 "$NS_VM1" 10.200.0.2 || up_fail "VXLAN: vm1 cannot ping 10.200.0.2 over vxlan0"
    return 0
}

# ---------------------------------------------------------------------------------------------

need_up() {
    ns_exists "$NS_SW" || die "lab not up for $WD (no netns $NS_SW); run '$PROG up $WD' first"
    [ -S "$DB_SOCK" ] || die "lab for $WD has no ovsdb socket $DB_SOCK"
}

check_port() {
    [ "$1" = "-" ] && return 0
    [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ] || die "bad port '$1'"
}

do_export() {
    local ipfix=$1 netflow=$2 sflow=${3:--} args=()
    check_port "$ipfix"; check_port "$netflow"; check_port "$sflow"
    need_up
    if [ "$ipfix" != "-" ]; then
        args+=(-- --id=@i create ipfix "targets=\"127.0.0.1:$ipfix\"" obs_domain_id=7 obs_point_id=8
               cache_active_timeout=2 cache_max_flows=1000 sampling=1
               other_config:enable-tunnel-sampling=true -- set bridge br-int ipfix=@i)
    fi
    if [ "$netflow" != "-" ]; then
        args+=(-- --id=@n create netflow "targets=\"127.0.0.1:$netflow\"" active_timeout=2
               -- set bridge br-int netflow=@n)
    fi
    if [ "$sflow" != "-" ]; then
        args+=(-- --id=@s create sflow agent=lo "targets=\"127.0.0.1:$sflow\"" header=128 sampling=1 polling=2
               -- set bridge br-int sflow=@s)
    fi
    [ ${#args[@]} -gt 0 ] || return 0
    q vsctl "${args[@]}" >/dev/null || die "cannot configure export on br-int"
}

# pingn NS DST LABEL: exactly 5 pings (1 s reply timeout), all must be answered.
pingn() {
    local out rc
    out=$(ip netns exec "$1" ping -n -q -c 5 -i 0.2 -W 1 "$2" 2>&1)
    rc=$?
    if [ $rc -ne 0 ] || ! grep -q ' 0% packet loss' <<<"$out"; then
        echo "$PROG: error: $3: ping $2 from $1 lost packets (exit $rc)" >&2
        printf '%s\n' "$out" | sed 's/^/    /' >&2
        return 1
    fi
}

do_traffic() {
    need_up
    local ok=0
    pingn "$NS_VM1" 10.200.0.3 "br-int vm1->vm2" || ok=1
    pingn "$NS_VM1" 10.200.0.2 "VXLAN vm1->10.200.0.2" || ok=1
    [ $ok -eq 0 ] || die "traffic failed (OVS log: $OVS_LOGDIR/ovs-vswitchd.log)"
}

case "$CMD" in
    up)       [ $# -eq 0 ] || usage; do_up ;;
    down)     [ $# -eq 0 ] || usage; do_down || die "some namespaces of $WD could not be removed" ;;
    exec)     [ $# -ge 1 ] || usage; need_up; exec ip netns exec "$NS_SW" "$@" ;;
    export)   [ $# -eq 2 ] || [ $# -eq 3 ] || usage; do_export "$@" ;;
    unexport) [ $# -eq 0 ] || usage; need_up; q vsctl clear bridge br-int ipfix netflow sflow || die "unexport failed" ;;
    traffic)  [ $# -eq 0 ] || usage; do_traffic ;;
    *)        usage ;;
esac
