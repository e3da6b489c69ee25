// Command franz runs the compatibility scenarios with franz-go (kgo and kadm).
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	h "kafkapy.dev/compat/harness"
)

func timeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), h.Timeout)
}

func client(ctx h.Ctx, opts ...kgo.Opt) *kgo.Client {
	base := []kgo.Opt{kgo.SeedBrokers(ctx.Brokers()...), kgo.ProducerLinger(5 * time.Millisecond),
		kgo.RequestTimeoutOverhead(5 * time.Second)}
	if tlsConfig := ctx.TLSConfig(); tlsConfig != nil {
		base = append(base, kgo.DialTLSConfig(tlsConfig))
	}
	if user := ctx.Security["username"]; user != "" {
		h.Eq(ctx.Security["mechanism"], "SCRAM-SHA-512", "SASL mechanism")
		base = append(base, kgo.SASL(scram.Auth{User: user, Pass: ctx.Security["password"]}.AsSha512Mechanism()))
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	h.Must(err, "new client")
	return cl
}

func createTopic(ctx h.Ctx, partitions int32, configs map[string]*string) string {
	topic := ctx.Name("t")
	cl := client(ctx)
	defer cl.Close()
	c, cancel := timeout()
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(c, partitions, ctx.ReplicationFactor, configs, topic)
	h.Must(err, "create topic")
	h.Must(resp.Err, "create topic")
	return topic
}

func produce(ctx h.Ctx, records []*kgo.Record, opts ...kgo.Opt) {
	cl := client(ctx, opts...)
	defer cl.Close()
	c, cancel := timeout()
	defer cancel()
	h.Must(cl.ProduceSync(c, records...).FirstErr(), "produce")
}

func normalise(r *kgo.Record) h.Rec {
	var key *string
	if r.Key != nil {
		key = h.Str(string(r.Key))
	}
	headers := [][2]string{}
	for _, hd := range r.Headers {
		headers = append(headers, [2]string{hd.Key, string(hd.Value)})
	}
	return h.Rec{Partition: r.Partition, Offset: r.Offset, Key: key, Value: string(r.Value), Headers: headers,
		Timestamp: r.Timestamp.UnixMilli(), CreateTime: r.Attrs.TimestampType() == 0}
}

// poll reads until count records (or the record holding stop) arrived.
func poll(cl *kgo.Client, count int, stop string) []h.Rec {
	var out []h.Rec
	deadline := time.Now().Add(h.Timeout)
	for len(out) < count && time.Now().Before(deadline) {
		c, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		fetches := cl.PollRecords(c, count-len(out))
		cancel()
		for _, fe := range fetches.Errors() {
			if fe.Err != context.DeadlineExceeded {
				h.Fail("fetch error on %s[%d]: %v", fe.Topic, fe.Partition, fe.Err)
			}
		}
		for _, r := range fetches.Records() {
			out = append(out, normalise(r))
			if stop != "" && string(r.Value) == stop {
				return out
			}
		}
	}
	return out
}

func fromStart(topic string, partitions int32) kgo.Opt {
	offsets := map[int32]kgo.Offset{}
	for p := int32(0); p < partitions; p++ {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	return kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets})
}

func consume(ctx h.Ctx, topic string, count int, partitions int32, opts ...kgo.Opt) []h.Rec {
	cl := client(ctx, append(opts, fromStart(topic, partitions), kgo.FetchMaxPartitionBytes(2_000_000))...)
	defer cl.Close()
	out := poll(cl, count, "")
	h.Eq(len(out), count, "records consumed")
	return out
}

func value(topic, v string) *kgo.Record { return &kgo.Record{Topic: topic, Value: []byte(v)} }

func codec(c kgo.CompressionCodec) h.Scenario {
	return func(ctx h.Ctx) (string, error) {
		topic := createTopic(ctx, 1, nil)
		var records []*kgo.Record
		for i := 0; i < 20; i++ {
			k, v := h.CodecRecord(i)
			records = append(records, &kgo.Record{Topic: topic, Key: []byte(k), Value: []byte(v)})
		}
		produce(ctx, records, kgo.ProducerBatchCompression(c))
		return h.CheckCodec(consume(ctx, topic, 20, 1)), nil
	}
}

func keys(ctx h.Ctx) (string, error) {
	topic := createTopic(ctx, 3, nil)
	var records []*kgo.Record
	for i := 0; i < 30; i++ {
		k, v := h.KeysRecord(i)
		r := value(topic, v)
		if k != nil {
			r.Key = []byte(*k)
		}
		records = append(records, r)
	}
	produce(ctx, records)
	return h.CheckKeys(consume(ctx, topic, 30, 3), 3), nil
}

func headers(ctx h.Ctx) (string, error) {
	topic := createTopic(ctx, 1, nil)
	var records []*kgo.Record
	for i := 0; i < 3; i++ {
		r := value(topic, fmt.Sprintf("h%d", i))
		for _, hd := range h.Headers {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: hd[0], Value: []byte(hd[1])})
		}
		records = append(records, r)
	}
	produce(ctx, records)
	return h.CheckHeaders(consume(ctx, topic, 3, 1)), nil
}

func timestamps(ctx h.Ctx) (string, error) {
	topic := createTopic(ctx, 1, nil)
	base := h.BaseTimestamp()
	var records []*kgo.Record
	for i, ts := range []int64{base, base + 1, base + 1000} {
		r := value(topic, fmt.Sprintf("t%d", i))
		r.Timestamp = time.UnixMilli(ts)
		records = append(records, r)
	}
	produce(ctx, records)
	return h.CheckTimestamps(consume(ctx, topic, 3, 1), base, true), nil
}

func largeMessage(ctx h.Ctx) (string, error) {
	topic := createTopic(ctx, 1, nil)
	payload := h.Random(1_000_000)
	produce(ctx, []*kgo.Record{{Topic: topic, Value: payload}}, kgo.ProducerBatchMaxBytes(2_000_000))
	got := consume(ctx, topic, 1, 1)
	h.Eq(len(got[0].Value), len(payload), "value length")
	h.Expect(bytes.Equal([]byte(got[0].Value), payload), "value bytes differ")
	return "1000000 bytes", nil
}

func groupCommitResume(ctx h.Ctx) (string, error) {
	topic := createTopic(ctx, 1, nil)
	group := ctx.Name("g")
	var records []*kgo.Record
	for i := 0; i < 10; i++ {
		records = append(records, value(topic, fmt.Sprintf("g%d", i)))
	}
	produce(ctx, records)
	groupOpts := []kgo.Opt{kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}
	offsets := func(recs []h.Rec) []int64 {
		out := []int64{}
		for _, r := range recs {
			out = append(out, r.Offset)
		}
		return out
	}
	first := client(ctx, groupOpts...)
	firsts := poll(first, 6, "")
	c, cancel := timeout()
	defer cancel()
	var commitErr error
	first.CommitOffsetsSync(c, map[string]map[int32]kgo.EpochOffset{topic: {0: {Epoch: -1, Offset: 6}}},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, _ *kmsg.OffsetCommitResponse, err error) {
			commitErr = err
		})
	h.Must(commitErr, "commit")
	fetched, err := kadm.NewClient(first).FetchOffsets(c, group)
	h.Must(err, "fetch committed offsets")
	committed, ok := fetched.Lookup(topic, 0)
	h.Expect(ok, "no committed offset for partition 0")
	first.Close()
	second := client(ctx, groupOpts...)
	defer second.Close()
	seconds := poll(second, 4, "")
	return h.CheckGroup(offsets(firsts), committed.At, offsets(seconds)), nil
}

func idempotentProducer(ctx h.Ctx) (string, error) {
	topic := createTopic(ctx, 1, nil)
	var records []*kgo.Record
	for i := 0; i < 50; i++ {
		records = append(records, value(topic, fmt.Sprintf("idem-%d", i)))
	}
	produce(ctx, records, kgo.RequiredAcks(kgo.AllISRAcks())) // franz-go is idempotent by default
	return h.CheckIdempotent(consume(ctx, topic, 50, 1)), nil
}

func transactions(ctx h.Ctx) (string, error) {
	topic := createTopic(ctx, 1, nil)
	cl := client(ctx, kgo.TransactionalID(ctx.Name("txn")))
	c, cancel := timeout()
	defer cancel()
	for i, values := range [][]string{h.TxnCommitted1, h.TxnAborted, h.TxnCommitted2} {
		h.Must(cl.BeginTransaction(), "begin transaction")
		var records []*kgo.Record
		for _, v := range values {
			records = append(records, value(topic, v))
		}
		h.Must(cl.ProduceSync(c, records...).FirstErr(), "produce in transaction")
		commit := kgo.TryCommit
		if i == 1 {
			commit = kgo.TryAbort
		}
		h.Must(cl.EndTransaction(c, commit), "end transaction")
	}
	cl.Close()
	read := func(level kgo.IsolationLevel) []h.Rec {
		consumer := client(ctx, fromStart(topic, 1), kgo.FetchIsolationLevel(level))
		defer consumer.Close()
		return poll(consumer, 8, "c2-1")
	}
	return h.CheckTransactions(read(kgo.ReadCommitted()), read(kgo.ReadUncommitted())), nil
}

func admin(ctx h.Ctx) (string, error) {
	topic := createTopic(ctx, 3, map[string]*string{"retention.ms": h.Str("123456789")})
	cl := client(ctx)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	c, cancel := timeout()
	defer cancel()
	h.Eventually(func() {
		topics, err := adm.ListTopics(c, topic)
		h.Must(err, "describe topic")
		h.Eq(len(topics[topic].Partitions), 3, "partitions")
	})
	retention := func() (string, kmsg.ConfigSource) {
		rcs, err := adm.DescribeTopicConfigs(c, topic)
		h.Must(err, "describe configs")
		rc, err := rcs.On(topic, nil)
		h.Must(err, "describe configs")
		h.Must(rc.Err, "describe configs")
		for _, cfg := range rc.Configs {
			if cfg.Key == "retention.ms" && cfg.Value != nil {
				return *cfg.Value, cfg.Source
			}
		}
		h.Fail("retention.ms not described")
		return "", 0
	}
	h.Eventually(func() {
		v, source := retention()
		h.Eq([]any{v, source}, []any{"123456789", kmsg.ConfigSourceDynamicTopicConfig}, "retention.ms (value, source)")
	})
	altered, err := adm.AlterTopicConfigs(c, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: h.Str("987654321")}}, topic)
	h.Must(err, "alter configs")
	for _, a := range altered {
		h.Must(a.Err, "alter configs")
	}
	h.Eventually(func() {
		v, _ := retention()
		h.Eq(v, "987654321", "retention.ms after alter")
	})
	deleted, err := adm.DeleteTopics(c, topic)
	h.Must(err, "delete topic")
	h.Must(deleted.Error(), "delete topic")
	deadline := time.Now().Add(h.Timeout)
	for {
		all, err := adm.ListTopics(c)
		h.Must(err, "list topics")
		if !all.Has(topic) {
			break
		}
		h.Expect(time.Now().Before(deadline), "deleted topic still listed")
		time.Sleep(200 * time.Millisecond)
	}
	return "create, describe, describe configs, incremental alter, delete", nil
}

func offsetsForTimes(ctx h.Ctx) (string, error) {
	topic := createTopic(ctx, 1, nil)
	base := h.BaseTimestamp()
	var records []*kgo.Record
	for i := int64(0); i < 3; i++ {
		r := value(topic, fmt.Sprintf("o%d", i))
		r.Timestamp = time.UnixMilli(base + 1000*i)
		records = append(records, r)
	}
	produce(ctx, records)
	cl := client(ctx)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	c, cancel := timeout()
	defer cancel()
	queries, want := h.OffsetsQueries(base)
	var found []int64
	for _, q := range queries {
		listed, err := adm.ListOffsetsAfterMilli(c, q, topic)
		h.Must(err, "list offsets after milli")
		lo, ok := listed.Lookup(topic, 0)
		h.Expect(ok && lo.Err == nil, "no listed offset for %d: %v", q, lo.Err)
		if lo.Timestamp < 0 { // kadm answers "no record at or after" with the end offset, timestamp -1
			h.Eq(lo.Offset, int64(3), "end offset for a timestamp after every record")
			found = append(found, -1)
			continue
		}
		found = append(found, lo.Offset)
	}
	h.Eq(found, want, fmt.Sprintf("offsets for %v", queries))
	return "4 lookups", nil
}

func seek(ctx h.Ctx) (string, error) {
	topic := createTopic(ctx, 1, nil)
	var records []*kgo.Record
	for i := 0; i < 5; i++ {
		records = append(records, value(topic, fmt.Sprintf("s%d", i)))
	}
	produce(ctx, records)
	atEnd := kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtEnd()}})
	cl := client(ctx, atEnd)
	defer cl.Close()
	// kgo exposes no consumer position: let it resolve the end offset and start its
	// long-poll fetch, then the record produced next must be read at offset 5.
	c, cancel := context.WithTimeout(context.Background(), time.Second)
	early := cl.PollRecords(c, 1).Records()
	cancel()
	h.Eq(len(early), 0, "records read at the end before producing")
	produce(ctx, []*kgo.Record{value(topic, "after-end")})
	after := poll(cl, 1, "")
	h.Expect(len(after) == 1, "nothing read after seek to end")
	cl.RemoveConsumePartitions(map[string][]int32{topic: {0}})
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}})
	beginning := poll(cl, 1, "")
	h.Expect(len(beginning) == 1, "nothing read after seek to beginning")
	cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{topic: {0: {Epoch: -1, Offset: 3}}})
	absolute := poll(cl, 1, "")
	h.Expect(len(absolute) == 1, "nothing read after seek to 3")
	return h.CheckSeek(-1, after[0], beginning[0].Offset, absolute[0].Offset), nil
}

func failover(ctx h.Ctx) (string, error) {
	topic := ctx.Name("t")
	func() {
		cl := client(ctx)
		defer cl.Close()
		adm := kadm.NewClient(cl)
		c, cancel := timeout()
		defer cancel()
		brokers, err := adm.BrokerMetadata(c)
		h.Must(err, "broker metadata")
		h.RequireBrokers(len(brokers.Brokers))
		minInsync := h.FailoverMinInsync
		resp, err := adm.CreateTopic(c, 1, h.FailoverReplication, map[string]*string{"min.insync.replicas": &minInsync}, topic)
		h.Must(err, "create topic")
		h.Must(resp.Err, "create topic")
	}()
	stream := h.NewStream(ctx, topic)
	// kgo producers are idempotent unless told otherwise.
	producer := client(ctx, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(90*time.Second),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	defer producer.Close()
	consumer := client(ctx, fromStart(topic, 1), kgo.FetchMaxWait(100*time.Millisecond))
	defer consumer.Close()
	send := func(v string) {
		producer.Produce(context.Background(), &kgo.Record{Topic: topic, Partition: 0, Value: []byte(v)},
			func(r *kgo.Record, err error) {
				if err != nil {
					stream.Failed(err)
				} else {
					stream.Delivered(string(r.Value), r.Offset)
				}
			})
	}
	pump := func(d time.Duration) {
		c, cancel := context.WithTimeout(context.Background(), max(d, time.Millisecond))
		defer cancel()
		consumer.PollFetches(c).EachRecord(func(r *kgo.Record) { stream.Read(r.Offset, string(r.Value)) })
	}
	stream.Run(send, pump)
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h.Must(producer.Flush(c), "flush")
	stream.Drain(pump)
	return stream.Check(), nil
}

func version() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/twmb/franz-go" {
				return "franz-go " + dep.Version
			}
		}
	}
	return "franz-go"
}

// expectKind passes when err is the Kafka error kind, and fails naming what came instead.
func expectKind(err error, kind *kerr.Error) string {
	h.Expect(errors.Is(err, kind), "expected %s, got %v", kind.Message, err)
	return kind.Message + ": " + err.Error()
}

func authWrongPassword(ctx h.Ctx) (string, error) {
	cl := client(ctx.WithWrongPassword())
	defer cl.Close()
	c, cancel := timeout()
	defer cancel()
	_, err := kadm.NewClient(cl).ListTopics(c)
	return expectKind(err, kerr.SaslAuthenticationFailed), nil
}

func authUntrustedCertificate(ctx h.Ctx) (string, error) {
	cl := client(ctx.WithUntrustedCertificate())
	defer cl.Close()
	c, cancel := timeout()
	defer cancel()
	_, err := kadm.NewClient(cl).ListTopics(c)
	return h.ExpectTLSAlert(err), nil
}

func aclTopicWriteDenied(ctx h.Ctx) (string, error) {
	topic := createTopic(ctx, 1, nil)
	cl := client(ctx)
	defer cl.Close()
	c, cancel := timeout()
	defer cancel()
	return expectKind(cl.ProduceSync(c, value(topic, "denied")).FirstErr(), kerr.TopicAuthorizationFailed), nil
}

func aclGroupReadDenied(ctx h.Ctx) (string, error) {
	topic := createTopic(ctx, 1, nil)
	produce(ctx, []*kgo.Record{value(topic, "one")})
	cl := client(ctx, kgo.ConsumerGroup(ctx.Name("g")), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	c, cancel := timeout()
	defer cancel()
	for c.Err() == nil {
		fetches := cl.PollFetches(c)
		h.Expect(fetches.NumRecords() == 0, "consumed in a group without READ")
		for _, fe := range fetches.Errors() {
			if !errors.Is(fe.Err, context.DeadlineExceeded) {
				return expectKind(fe.Err, kerr.GroupAuthorizationFailed), nil
			}
		}
	}
	h.Fail("no group error in %s", h.Timeout)
	return "", nil
}

func main() {
	h.Main("franz-go", version(), map[string]h.Scenario{
		"codec_none":                 codec(kgo.NoCompression()),
		"codec_gzip":                 codec(kgo.GzipCompression()),
		"codec_snappy":               codec(kgo.SnappyCompression()),
		"codec_lz4":                  codec(kgo.Lz4Compression()),
		"codec_zstd":                 codec(kgo.ZstdCompression()),
		"keys":                       keys,
		"headers":                    headers,
		"timestamps":                 timestamps,
		"large_message":              largeMessage,
		"group_commit_resume":        groupCommitResume,
		"idempotent_producer":        idempotentProducer,
		"transactions":               transactions,
		"admin":                      admin,
		"offsets_for_times":          offsetsForTimes,
		"seek":                       seek,
		"failover":                   failover,
		"auth_wrong_password":        authWrongPassword,
		"auth_untrusted_certificate": authUntrustedCertificate,
		"acl_topic_write_denied":     aclTopicWriteDenied,
		"acl_group_read_denied":      aclGroupReadDenied,
		"share_distinct":             shareDistinct,
		"share_release":              shareRelease,
		"share_reject":               shareReject,
		"share_lock_expiry":          shareLockExpiry,
		"share_restart":              shareRestart,
	}, nil)
}
