// Package harness is shared by the Go drivers of the compatibility matrix: the
// command line, the JSON-line protocol, the scenario data and the checks. The
// scenarios are specified in compat_tests/scenarios.py; the data here mirrors it.
package harness

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"
)

// Timeout bounds every wait of a scenario: failures show in seconds, not minutes.
const Timeout = 15 * time.Second

// Names lists the scenarios in the order the matrix prints them.
var Names = []string{
	"codec_none", "codec_gzip", "codec_snappy", "codec_lz4", "codec_zstd",
	"keys", "headers", "timestamps", "large_message", "group_commit_resume",
	"idempotent_producer", "transactions", "admin", "offsets_for_times", "seek", "failover",
}

// Headers is the header list of the headers scenario, in order.
var Headers = [][2]string{{"trace-id", "abc-123"}, {"dup", "1"}, {"dup", "2"}, {"utf8", "h\u00e9llo"}, {"empty", ""}}

var (
	TxnCommitted1 = []string{"c1-0", "c1-1", "c1-2"}
	TxnAborted    = []string{"a-0", "a-1", "a-2"}
	TxnCommitted2 = []string{"c2-0", "c2-1"}
)

// Rec is a consumed record, normalised across client libraries.
type Rec struct {
	Partition  int32
	Offset     int64
	Key        *string
	Value      string
	Headers    [][2]string
	Timestamp  int64
	CreateTime bool
}

// Ctx carries the broker address and the replication factor of created topics
// (-1: the broker's default), and makes unique names.
type Ctx struct {
	Bootstrap         string
	Client            string
	Scenario          string
	ReplicationFactor int16
	// Security holds a secured run's client settings (compat_tests/driver.py lists
	// the keys); empty: PLAINTEXT.
	Security map[string]string
}

// WithWrongPassword is ctx with the wrong password of the auth_wrong_password scenario.
func (c Ctx) WithWrongPassword() Ctx {
	return c.withSecurity("wrong_password", "no SASL password to get wrong", func(s map[string]string) {
		s["password"] = s["wrong_password"]
	})
}

// WithUntrustedCertificate is ctx presenting its subject from a CA the broker does
// not trust (the auth_untrusted_certificate scenario).
func (c Ctx) WithUntrustedCertificate() Ctx {
	return c.withSecurity("untrusted_cert_file", "no client certificate", func(s map[string]string) {
		s["cert_file"], s["key_file"] = s["untrusted_cert_file"], s["untrusted_key_file"]
	})
}

// withSecurity is ctx with a copy of its security settings changed by change; a run
// without the setting needed (PLAINTEXT, or another mechanism) cannot have the
// scenario, which is then not applicable: missing says why.
func (c Ctx) withSecurity(needed, missing string, change func(map[string]string)) Ctx {
	if c.Security[needed] == "" {
		protocol := c.Security["security_protocol"]
		if protocol == "" {
			protocol = "PLAINTEXT"
		}
		NotApplicable("%s (%s)", missing, protocol)
	}
	settings := map[string]string{}
	for k, v := range c.Security {
		settings[k] = v
	}
	change(settings)
	c.Security = settings
	return c
}

// ExpectTLSAlert passes when err carries the TLS alert the broker sent (under TLS 1.3
// the client meets it on its first read after the handshake), and fails otherwise.
func ExpectTLSAlert(err error) string {
	Expect(err != nil && strings.Contains(err.Error(), "remote error: tls:"), "expected the broker's TLS alert, got %v", err)
	msg := err.Error()
	return msg[strings.Index(msg, "remote error: tls:"):]
}

// TLSConfig is the TLS configuration of a secured run: the CA to trust and, for
// mTLS, the client certificate; nil on PLAINTEXT.
func (c Ctx) TLSConfig() *tls.Config {
	if len(c.Security) == 0 {
		return nil
	}
	ca, err := os.ReadFile(c.Security["ca_file"])
	Must(err, "read CA")
	pool := x509.NewCertPool()
	Expect(pool.AppendCertsFromPEM(ca), "no certificate in %s", c.Security["ca_file"])
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if c.Security["cert_file"] != "" {
		cert, err := tls.LoadX509KeyPair(c.Security["cert_file"], c.Security["key_file"])
		Must(err, "load client certificate")
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg
}

// Brokers is the bootstrap list (HOST:PORT,HOST:PORT...) as a slice.
func (c Ctx) Brokers() []string { return strings.Split(c.Bootstrap, ",") }

// Name returns a topic/group/transactional id unique to this scenario run.
func (c Ctx) Name(kind string) string {
	return fmt.Sprintf("compat-%s-%s-%s-%08x", c.Client, c.Scenario, kind, rand.Uint32())
}

// Scenario runs one scenario and returns a short detail; it fails by panicking
// through Fail/Expect/Eq or by returning an error.
type Scenario func(ctx Ctx) (string, error)

type failure string

type notApplicable string

// Fail ends the scenario as failed.
func Fail(format string, args ...any) { panic(failure(fmt.Sprintf(format, args...))) }

// NotApplicable ends the scenario as n/a: it cannot run here, for the reason given.
func NotApplicable(format string, args ...any) { panic(notApplicable(fmt.Sprintf(format, args...))) }

// Expect fails the scenario unless cond holds.
func Expect(cond bool, format string, args ...any) {
	if !cond {
		Fail(format, args...)
	}
}

// Eq fails the scenario unless got deep-equals want.
func Eq(got, want any, what string) {
	if !reflect.DeepEqual(got, want) {
		Fail("%s: got %s, expected %s", what, show(got), show(want))
	}
}

// Must fails the scenario on a client error.
func Must(err error, what string) {
	if err != nil {
		Fail("%s: %v", what, err)
	}
}

func show(v any) string {
	s := fmt.Sprintf("%+v", deref(v))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func deref(v any) any {
	if recs, ok := v.([]Rec); ok {
		out := make([]string, len(recs))
		for i, r := range recs {
			k := "<nil>"
			if r.Key != nil {
				k = *r.Key
			}
			out[i] = fmt.Sprintf("{p%d o%d k=%s v=%.30s}", r.Partition, r.Offset, k, r.Value)
		}
		return out
	}
	return v
}

// Eventually runs look until it passes, for at most Timeout, then once more letting
// its failure end the scenario: a broker of a cluster learns a metadata change (a
// new topic, an altered config) a moment after the controller acknowledged it, and
// admin clients may ask any broker.
func Eventually(look func()) {
	deadline := time.Now().Add(Timeout)
	for time.Now().Before(deadline) {
		if passes(look) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	look()
}

func passes(look func()) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, failed := r.(failure); !failed {
				panic(r)
			}
			ok = false
		}
	}()
	look()
	return true
}

// Str returns a pointer to s (keys are optional).
func Str(s string) *string { return &s }

// CodecRecord is record i of a codec scenario.
func CodecRecord(i int) (string, string) {
	return fmt.Sprintf("key-%d", i), fmt.Sprintf("value-%d-", i) + strings.Repeat("x", 200)
}

// KeysRecord is record i of the keys scenario; every sixth key is null.
func KeysRecord(i int) (*string, string) {
	if i%6 == 5 {
		return nil, fmt.Sprintf("v%d", i)
	}
	return Str(fmt.Sprintf("user-%d", i%4)), fmt.Sprintf("v%d", i)
}

// BaseTimestamp is a whole-second CreateTime one day ago.
func BaseTimestamp() int64 { return (time.Now().Unix() - 86400) * 1000 }

// OffsetsQueries are the lookups of offsets_for_times; -1 means "no record".
func OffsetsQueries(base int64) ([]int64, []int64) {
	return []int64{base - 1, base + 500, base + 2000, base + 2001}, []int64{0, 1, 2, -1}
}

// CheckCodec checks 20 records read from partition 0.
func CheckCodec(recs []Rec) string {
	Eq(len(recs), 20, "records consumed")
	for i, r := range recs {
		k, v := CodecRecord(i)
		Eq([]any{r.Offset, r.Key != nil && *r.Key == k, r.Value}, []any{int64(i), true, v}, fmt.Sprintf("record %d (offset, key ok, value)", i))
	}
	return "20 records"
}

// CheckKeys checks the keys scenario over all partitions.
func CheckKeys(recs []Rec, partitions int) string {
	Eq(len(recs), 30, "records consumed")
	var want, got []string
	produced := map[string][]string{}
	for i := 0; i < 30; i++ {
		k, v := KeysRecord(i)
		want = append(want, keyString(k)+"="+v)
		if k != nil {
			produced[*k] = append(produced[*k], v)
		}
	}
	sorted := append([]Rec(nil), recs...)
	sort.Slice(sorted, func(a, b int) bool {
		if sorted[a].Partition != sorted[b].Partition {
			return sorted[a].Partition < sorted[b].Partition
		}
		return sorted[a].Offset < sorted[b].Offset
	})
	parts := map[string]map[int32]bool{}
	order := map[string][]string{}
	used := map[int32]bool{}
	for _, r := range sorted {
		got = append(got, keyString(r.Key)+"="+r.Value)
		used[r.Partition] = true
		if r.Key == nil {
			continue
		}
		if parts[*r.Key] == nil {
			parts[*r.Key] = map[int32]bool{}
		}
		parts[*r.Key][r.Partition] = true
		order[*r.Key] = append(order[*r.Key], r.Value)
	}
	sort.Strings(want)
	sort.Strings(got)
	Eq(got, want, "consumed key=value multiset")
	for k, values := range produced {
		Eq(len(parts[k]), 1, "partitions of key "+k)
		Eq(order[k], values, "order of key "+k)
	}
	return fmt.Sprintf("30 records over %d of %d partitions", len(used), partitions)
}

func keyString(k *string) string {
	if k == nil {
		return "<null>"
	}
	return *k
}

// CheckHeaders checks 3 records each carrying Headers.
func CheckHeaders(recs []Rec) string {
	Eq(len(recs), 3, "records consumed")
	for _, r := range recs {
		Eq(r.Headers, Headers, fmt.Sprintf("headers at offset %d", r.Offset))
	}
	return "5 headers x 3 records"
}

// CheckTimestamps checks the three CreateTimes; typeKnown is false for clients
// that do not expose the timestamp type.
func CheckTimestamps(recs []Rec, base int64, typeKnown bool) string {
	Eq(len(recs), 3, "records consumed")
	want := []int64{base, base + 1, base + 1000}
	for i, r := range recs {
		Eq([]any{r.Offset, r.Timestamp}, []any{int64(i), want[i]}, fmt.Sprintf("record %d (offset, timestamp)", i))
		if typeKnown {
			Expect(r.CreateTime, "record %d timestamp type is not CreateTime", i)
		}
	}
	if !typeKnown {
		return "CreateTime values round trip (client does not expose the timestamp type)"
	}
	return "CreateTime round trip"
}

// CheckGroup checks the offsets read before and after the commit; committed is
// the offset the group coordinator reported.
func CheckGroup(first []int64, committed int64, second []int64) string {
	Eq(first, []int64{0, 1, 2, 3, 4, 5}, "first consumer offsets")
	Eq(committed, int64(6), "committed offset")
	Eq(second, []int64{6, 7, 8, 9}, "second consumer offsets")
	return "resumed at 6, committed 6"
}

// CheckIdempotent checks 50 records exactly once, in order.
func CheckIdempotent(recs []Rec) string {
	Eq(len(recs), 50, "records consumed")
	for i, r := range recs {
		Eq([]any{r.Offset, r.Value}, []any{int64(i), fmt.Sprintf("idem-%d", i)}, fmt.Sprintf("record %d", i))
	}
	return "50 records exactly once"
}

// CheckTransactions checks what read_committed and read_uncommitted consumers saw.
func CheckTransactions(committed, uncommitted []Rec) string {
	var got []string
	for _, r := range committed {
		got = append(got, fmt.Sprintf("%d:%s", r.Offset, r.Value))
	}
	Eq(got, []string{"0:c1-0", "1:c1-1", "2:c1-2", "8:c2-0", "9:c2-1"}, "read_committed")
	got = nil
	for _, r := range uncommitted {
		got = append(got, r.Value)
	}
	want := append(append(append([]string{}, TxnCommitted1...), TxnAborted...), TxnCommitted2...)
	Eq(got, want, "read_uncommitted values")
	return "abort hidden from read_committed, visible to read_uncommitted"
}

// CheckSeek checks the seek scenario; endPosition < 0 means the client does not
// expose its position, and the record read after the end proves it instead.
func CheckSeek(endPosition int64, after Rec, beginning, absolute int64) string {
	if endPosition >= 0 {
		Eq(endPosition, int64(5), "position after seek to end")
	}
	Eq([]any{after.Offset, after.Value}, []any{int64(5), "after-end"}, "record read after seek to end")
	Eq(beginning, int64(0), "offset read after seek to beginning")
	Eq(absolute, int64(3), "offset read after seek to 3")
	return "end, beginning, absolute"
}

// Random returns n random bytes.
func Random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func emit(v any) {
	line, _ := json.Marshal(v)
	fmt.Println(string(line))
}

// Main parses --bootstrap/--scenarios and runs the scenarios, printing one JSON
// line each; a scenario missing from impls is n/a with the reason in notApplicable.
func Main(client, version string, impls map[string]Scenario, notApplicable map[string]string) {
	bootstrap := flag.String("bootstrap", "", "HOST:PORT of the broker")
	wanted := flag.String("scenarios", "all", "comma-separated scenarios, or all")
	rf := flag.Int("replication-factor", 1, "of the topics scenarios create; -1 for the broker default")
	securityFile := flag.String("security", "", "JSON file of client security settings (compat_tests/driver.py)")
	flag.Parse()
	security := map[string]string{}
	if *securityFile != "" {
		data, err := os.ReadFile(*securityFile)
		if err == nil {
			err = json.Unmarshal(data, &security)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "--security:", err)
			os.Exit(2)
		}
	}
	if *bootstrap == "" {
		fmt.Fprintln(os.Stderr, "--bootstrap is required")
		os.Exit(2)
	}
	names := Names
	if *wanted != "all" {
		names = strings.Split(*wanted, ",")
	}
	emit(map[string]string{"version": version})
	for _, name := range names {
		impl, ok := impls[name]
		if !ok {
			reason := notApplicable[name]
			if reason == "" {
				reason = "not implemented for this client"
			}
			emit(map[string]string{"scenario": name, "status": "n/a", "detail": reason})
			continue
		}
		emit(run(Ctx{*bootstrap, client, name, int16(*rf), security}, impl))
	}
}

func run(ctx Ctx, impl Scenario) (result map[string]string) {
	started := time.Now()
	defer func() {
		if r := recover(); r != nil {
			if reason, ok := r.(notApplicable); ok {
				result = map[string]string{"scenario": ctx.Scenario, "status": "n/a", "detail": string(reason)}
				return
			}
			msg, ok := r.(failure)
			if !ok {
				msg = failure(fmt.Sprintf("panic: %v", r))
			}
			result = map[string]string{"scenario": ctx.Scenario, "status": "fail", "detail": string(msg)}
		}
	}()
	detail, err := impl(ctx)
	if err != nil {
		return map[string]string{"scenario": ctx.Scenario, "status": "fail", "detail": err.Error()}
	}
	took := time.Since(started).Seconds()
	return map[string]string{"scenario": ctx.Scenario, "status": "pass", "detail": fmt.Sprintf("%s (%.1fs)", detail, took)}
}

// The failover scenario (compat_tests/scenarios.py): its data, the fault request to
// the harness and the stream's bookkeeping, as compat_tests/failover.py keeps them.
const (
	FailoverBrokers     = 3
	FailoverReplication = 3
	FailoverMinInsync   = "2"
	FailoverPeriod      = 10 * time.Millisecond
	FailoverBefore      = 20
	FailoverAfter       = 50
	FailoverWait        = 120 * time.Second
)

// RequireBrokers makes the scenario n/a unless replication factor 3 fits the cluster.
func RequireBrokers(count int) {
	if count < FailoverBrokers {
		NotApplicable("needs %d brokers for replication factor %d; the cluster has %d", FailoverBrokers, FailoverReplication, count)
	}
}

// FaultRequest is a request for a fault printed to the harness; its answer is read
// from stdin in the background (see compat_tests/driver.py).
type FaultRequest struct {
	answers chan map[string]any
	answer  map[string]any
}

// RequestFault prints the "await" line for the partition and starts reading the answer.
func RequestFault(ctx Ctx, topic string, partition int32) *FaultRequest {
	return RequestFaultKind(ctx, topic, partition, "failover")
}

// RequestFaultKind is RequestFault for a fault of the given kind: failover (kill the
// partition's leader) or restart (the broker).
func RequestFaultKind(ctx Ctx, topic string, partition int32, kind string) *FaultRequest {
	emit(map[string]any{"await": "fault", "fault": kind, "scenario": ctx.Scenario, "topic": topic, "partition": partition})
	f := &FaultRequest{answers: make(chan map[string]any, 1)}
	go func() {
		line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		answer := map[string]any{}
		if err := json.Unmarshal([]byte(line), &answer); err != nil {
			answer = map[string]any{"fault": "none", "reason": "no answer from the harness: " + strings.TrimSpace(line)}
		}
		f.answers <- answer
	}()
	return f
}

// Answered reports whether the harness answered.
func (f *FaultRequest) Answered() bool {
	if f.answer != nil {
		return true
	}
	select {
	case f.answer = <-f.answers:
		return true
	default:
		return false
	}
}

// Result is the harness's account of the fault; the scenario is n/a if it made none.
func (f *FaultRequest) Result() string {
	if f.answer["fault"] != "done" {
		NotApplicable("%v", f.answer["reason"])
	}
	detail, _ := f.answer["detail"].(string)
	return detail
}

// Stream paces the failover stream and keeps what was acknowledged and read; its
// report methods may be called from client goroutines.
type Stream struct {
	ctx       Ctx
	topic     string
	mu        sync.Mutex
	acked     map[int64]int64
	failures  []string
	consumed  [][2]int64 // offset, seq
	seen      map[int64]bool
	sent      int64
	afterFrom int64
	fault     string
	request   *FaultRequest
	started   time.Time
	nextAt    time.Time
}

// NewStream starts the bookkeeping of a stream on topic partition 0.
func NewStream(ctx Ctx, topic string) *Stream {
	now := time.Now()
	return &Stream{ctx: ctx, topic: topic, acked: map[int64]int64{}, seen: map[int64]bool{}, afterFrom: -1, started: now, nextAt: now}
}

// FailoverValue is the value of record seq.
func FailoverValue(seq int64) string { return fmt.Sprintf("fo-%d", seq) }

func seqOf(value string) int64 {
	var seq int64
	fmt.Sscanf(strings.TrimPrefix(value, "fo-"), "%d", &seq)
	return seq
}

// Delivered records an acknowledgement (offset -1 when the client reports none).
func (s *Stream) Delivered(value string, offset int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acked[seqOf(value)] = offset
}

// Failed records a delivery error.
func (s *Stream) Failed(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, err.Error())
}

// Read records a consumed record.
func (s *Stream) Read(offset int64, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seq := seqOf(value)
	s.consumed = append(s.consumed, [2]int64{offset, seq})
	s.seen[seq] = true
}

func (s *Stream) ackedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.acked)
}

// Run sends the stream with send, letting pump serve the clients between records,
// until FailoverAfter records were sent after the harness answered.
func (s *Stream) Run(send func(value string), pump func(time.Duration)) {
	for {
		if s.afterFrom >= 0 {
			if s.sent >= s.afterFrom+FailoverAfter {
				return
			}
		} else if s.request == nil {
			Expect(time.Since(s.started) < Timeout, "only %d records acknowledged in %v before the fault; errors: %v", s.ackedCount(), Timeout, s.failures)
			if s.ackedCount() >= FailoverBefore {
				s.request = RequestFault(s.ctx, s.topic, 0)
			}
		} else if s.request.Answered() {
			s.fault = s.request.Result()
			s.afterFrom = s.sent
		} else {
			Expect(time.Since(s.started) < FailoverWait, "the harness did not answer the fault request")
		}
		if !time.Now().Before(s.nextAt) {
			send(FailoverValue(s.sent))
			s.sent++
			s.nextAt = s.nextAt.Add(FailoverPeriod)
		}
		wait := time.Until(s.nextAt)
		if wait > 5*time.Millisecond {
			wait = 5 * time.Millisecond
		}
		pump(wait)
	}
}

// Drain reads with pump until the last acknowledged record arrived (at most Timeout).
func (s *Stream) Drain(pump func(time.Duration)) {
	deadline := time.Now().Add(Timeout)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		last := int64(-1)
		for seq := range s.acked {
			if seq > last {
				last = seq
			}
		}
		done := s.seen[last]
		s.mu.Unlock()
		if done {
			return
		}
		pump(200 * time.Millisecond)
	}
}

// Check applies compat_tests/checks.py's failover checks: the log as the consumer
// read it (by offset; an offset read again must hold the same record) holds every
// acknowledged record once, at its acknowledged offset, in the order sent.
func (s *Stream) Check() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	byOffset := map[int64]int64{}
	var conflicts []string
	for _, r := range s.consumed {
		if seq, ok := byOffset[r[0]]; ok && seq != r[1] {
			conflicts = append(conflicts, fmt.Sprintf("%d: fo-%d then fo-%d", r[0], seq, r[1]))
		} else if !ok {
			byOffset[r[0]] = r[1]
		}
	}
	Expect(len(conflicts) == 0, "different records read at the same offset: %v", conflicts[:min(5, len(conflicts))])
	var offsets []int64
	for o := range byOffset {
		offsets = append(offsets, o)
	}
	sort.Slice(offsets, func(a, b int) bool { return offsets[a] < offsets[b] })
	at := map[int64]int64{}
	var duplicated []int64
	var reordered [][2]int64
	previous := int64(-1)
	for _, o := range offsets {
		seq := byOffset[o]
		if _, ok := at[seq]; ok {
			duplicated = append(duplicated, seq)
		}
		at[seq] = o
		if seq < previous {
			reordered = append(reordered, [2]int64{previous, seq})
		}
		previous = seq
	}
	Expect(len(duplicated) == 0, "records in the log more than once: %v", first(duplicated, 10))
	Expect(len(reordered) == 0, "records out of order in the log (seq, then seq): %v", reordered[:min(5, len(reordered))])
	var seqs []int64
	for seq := range s.acked {
		seqs = append(seqs, seq)
	}
	sort.Slice(seqs, func(a, b int) bool { return seqs[a] < seqs[b] })
	var lost []int64
	var moved []string
	for _, seq := range seqs {
		offset, ok := at[seq]
		if !ok {
			lost = append(lost, seq)
		} else if s.acked[seq] >= 0 && s.acked[seq] != offset {
			moved = append(moved, fmt.Sprintf("%d acked at %d, consumed at %d", seq, s.acked[seq], offset))
		}
	}
	Expect(len(lost) == 0, "%d of %d acknowledged records never consumed: %v", len(lost), len(s.acked), first(lost, 10))
	Expect(len(moved) == 0, "acknowledged at one offset, consumed at another: %v", moved[:min(5, len(moved))])
	late := 0
	for seq := s.afterFrom; seq < s.sent; seq++ {
		if _, ok := s.acked[seq]; !ok {
			late++
		}
	}
	Expect(late == 0, "%d of the %d records sent after the fault not acknowledged; errors: %v", late, s.sent-s.afterFrom, s.failures[:min(3, len(s.failures))])
	detail := fmt.Sprintf("%d acknowledged records (%d after the fault", len(s.acked), s.sent-s.afterFrom)
	if n := s.sent - int64(len(s.acked)); n > 0 {
		detail += fmt.Sprintf(", %d unacknowledged during it", n)
	}
	detail += ") consumed exactly once, in order"
	if n := len(s.consumed) - len(byOffset); n > 0 {
		detail += fmt.Sprintf(" (%d reads of an offset read before)", n)
	}
	return detail + "; " + s.fault
}

func first(xs []int64, n int) []int64 { return xs[:min(n, len(xs))] }
