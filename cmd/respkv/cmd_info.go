package main

// INFO.

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// infoDefault is the sections INFO returns without argument.
var infoDefault = []string{"server", "clients", "memory", "persistence", "stats", "replication", "cpu", "module_list", "errorstats", "cluster", "keyspace"}

func cmdInfo(s *server, c *client, args [][]byte) {
	// Redis 7.0's selection: no argument or "default" is the default
	// sections, "all" every section, "everything" the same (no modules).
	want := map[string]bool{}
	all := false
	for _, a := range args[1:] {
		switch name := strings.ToLower(string(a)); name {
		case "all", "everything":
			all = true
		case "default":
			for _, d := range infoDefault {
				want[d] = true
			}
		default:
			want[name] = true
		}
	}
	if len(args) == 1 {
		for _, d := range infoDefault {
			want[d] = true
		}
	}
	section := func(name string) bool { return all || want[name] }
	var b strings.Builder
	add := func(title string, lines ...string) {
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString("# " + title + "\r\n")
		for _, l := range lines {
			b.WriteString(l + "\r\n")
		}
	}
	uptime := int64(time.Since(s.start).Seconds())
	if section("server") {
		port := "6380"
		if i := strings.LastIndexByte(s.cfg.Addr, ':'); i >= 0 {
			port = s.cfg.Addr[i+1:]
		}
		exe, _ := os.Executable()
		add("Server",
			"redis_version:"+redisVersion,
			"respkv_version:"+respkvVersion,
			"redis_git_sha1:00000000",
			"redis_git_dirty:0",
			"redis_mode:standalone",
			"os:"+runtime.GOOS+" "+runtime.GOARCH,
			"arch_bits:64",
			"multiplexing_api:calloop",
			"go_version:"+runtime.Version(),
			"process_id:"+strconv.Itoa(os.Getpid()),
			"tcp_port:"+port,
			"server_time_usec:"+strconv.FormatInt(time.Now().UnixMicro(), 10),
			"uptime_in_seconds:"+strconv.FormatInt(uptime, 10),
			"uptime_in_days:"+strconv.FormatInt(uptime/86400, 10),
			"hz:10",
			"configured_hz:10",
			"executable:"+exe,
			"config_file:",
			"io_threads_active:0")
	}
	if section("clients") {
		add("Clients",
			"connected_clients:"+strconv.Itoa(len(s.clients)),
			"cluster_connections:0",
			"maxclients:10000",
			"client_recent_max_input_buffer:0",
			"client_recent_max_output_buffer:0",
			"blocked_clients:"+strconv.Itoa(s.blockedClients()),
			"tracking_clients:0",
			"clients_in_timeout_table:0")
	}
	if section("memory") {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		add("Memory",
			"used_memory:"+strconv.FormatUint(m.HeapAlloc, 10),
			"used_memory_human:"+human(m.HeapAlloc),
			"used_memory_rss:"+strconv.FormatUint(m.Sys, 10),
			"used_memory_rss_human:"+human(m.Sys),
			"used_memory_peak:"+strconv.FormatUint(m.HeapSys, 10),
			"used_memory_peak_human:"+human(m.HeapSys),
			"total_system_memory:0",
			"used_memory_dataset:"+strconv.FormatInt(s.usedMemory(), 10),
			"maxmemory:"+strconv.FormatInt(s.cfg.MaxMemory, 10),
			"maxmemory_human:"+human(uint64(s.cfg.MaxMemory)),
			"maxmemory_policy:"+policyNames[s.mm.policy],
			"mem_allocator:go",
			"go_gc_cycles:"+strconv.FormatUint(uint64(m.NumGC), 10))
	}
	if section("persistence") {
		aofOn := "0"
		if s.cfg.AOF != "" {
			aofOn = "1"
		}
		add("Persistence",
			"loading:0",
			"rdb_changes_since_last_save:"+strconv.FormatUint(s.dirty, 10),
			"rdb_bgsave_in_progress:0",
			"rdb_last_save_time:"+strconv.FormatInt(s.start.Unix(), 10),
			"aof_enabled:"+aofOn)
		for _, l := range s.aofInfo() {
			b.WriteString(l + "\r\n")
		}
	}
	if section("stats") {
		add("Stats",
			"total_connections_received:"+strconv.FormatUint(s.stats.connections, 10),
			"total_commands_processed:"+strconv.FormatUint(s.stats.commands, 10),
			"instantaneous_ops_per_sec:"+strconv.FormatInt(s.mon.inst[instCommands].value(), 10),
			"total_net_input_bytes:"+strconv.FormatUint(s.stats.netIn, 10),
			"total_net_output_bytes:"+strconv.FormatUint(s.stats.netOut, 10),
			fmt.Sprintf("instantaneous_input_kbps:%.2f", float64(s.mon.inst[instNetInput].value())/1024),
			fmt.Sprintf("instantaneous_output_kbps:%.2f", float64(s.mon.inst[instNetOutput].value())/1024),
			"rejected_connections:"+strconv.FormatUint(s.stats.rejectedConns, 10),
			"expired_keys:"+strconv.FormatUint(s.stats.expiredKeys, 10),
			"evicted_keys:"+strconv.FormatUint(s.mm.evicted, 10),
			"keyspace_hits:"+strconv.FormatUint(s.stats.hits, 10),
			"keyspace_misses:"+strconv.FormatUint(s.stats.misses, 10),
			"total_error_replies:"+strconv.FormatUint(s.stats.errorReplies, 10),
			"protocol_errors:"+strconv.FormatUint(s.stats.protoErrors, 10),
			"active_expire_cycles:"+strconv.FormatUint(s.stats.activeCycles, 10))
		for _, ln := range eventloopInfo(s.loop) {
			b.WriteString(ln + "\r\n")
		}
		for _, ln := range s.pubsubInfo() {
			b.WriteString(ln + "\r\n")
		}
	}
	if section("replication") {
		add("Replication", "role:master", "connected_slaves:0", "master_failover_state:no-failover",
			"master_replid:"+s.replid, "master_replid2:0000000000000000000000000000000000000000",
			"master_repl_offset:0", "second_repl_offset:-1", "repl_backlog_active:0",
			"repl_backlog_size:1048576", "repl_backlog_first_byte_offset:0", "repl_backlog_histlen:0")
	}
	if section("cpu") {
		sys, user := cpuTimes()
		add("CPU",
			fmt.Sprintf("used_cpu_sys:%.6f", sys), fmt.Sprintf("used_cpu_user:%.6f", user),
			"used_cpu_sys_children:0.000000", "used_cpu_user_children:0.000000",
			fmt.Sprintf("used_cpu_sys_main_thread:%.6f", sys), fmt.Sprintf("used_cpu_user_main_thread:%.6f", user))
	}
	if section("modules") || section("module_list") {
		add("Modules")
	}
	if section("commandstats") {
		var lines []string
		for _, cmd := range commandList {
			if st := s.cmdStat(cmd); st.calls > 0 || st.rejected > 0 {
				usec, perCall := s.cmdUsec(cmd), 0.0
				if st.calls > 0 {
					perCall = float64(usec) / float64(st.calls)
				}
				lines = append(lines, fmt.Sprintf("cmdstat_%s:calls=%d,usec=%d,usec_per_call=%.2f,rejected_calls=%d,failed_calls=%d", cmd.name, st.calls, usec, perCall, st.rejected, st.failed))
			}
		}
		add("Commandstats", lines...)
	}
	if section("errorstats") {
		codes := make([]string, 0, len(s.errorCodes))
		for code := range s.errorCodes {
			codes = append(codes, code)
		}
		slices.Sort(codes)
		lines := make([]string, len(codes))
		for i, code := range codes {
			lines[i] = fmt.Sprintf("errorstat_%s:count=%d", code, s.errorCodes[code])
		}
		add("Errorstats", lines...)
	}
	if section("latencystats") {
		add("Latencystats", s.latencyStatsLines()...)
	}
	if section("cluster") {
		add("Cluster", "cluster_enabled:0")
	}
	if section("keyspace") {
		var lines []string
		for i, d := range s.dbs {
			if d.size() > 0 {
				lines = append(lines, fmt.Sprintf("db%d:keys=%d,expires=%d,avg_ttl=0", i, d.size(), len(d.vol)))
			}
		}
		add("Keyspace", lines...)
	}
	c.bulkStr(b.String())
}

func human(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2fG", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2fM", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.2fK", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}
