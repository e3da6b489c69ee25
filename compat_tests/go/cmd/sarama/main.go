// Command sarama runs the compatibility scenarios with IBM/sarama at its default
// protocol version (Config.Version as shipped).
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"

	h "kafkapy.dev/compat/harness"
)

// scramClient is sarama's SCRAMClient over xdg-go/scram (sarama ships none).
type scramClient struct {
	*scram.ClientConversation
	scram.HashGeneratorFcn
}

func (x *scramClient) Begin(user, password, authzID string) error {
	client, err := x.HashGeneratorFcn.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	x.ClientConversation = client.NewConversation()
	return nil
}

func (x *scramClient) Step(challenge string) (string, error) {
	return x.ClientConversation.Step(challenge)
}

func (x *scramClient) Done() bool { return x.ClientConversation.Done() }

func config(ctx h.Ctx) *sarama.Config {
	cfg := sarama.NewConfig()
	if tlsConfig := ctx.TLSConfig(); tlsConfig != nil {
		cfg.Net.TLS.Enable = true
		cfg.Net.TLS.Config = tlsConfig
	}
	if user := ctx.Security["username"]; user != "" {
		h.Eq(ctx.Security["mechanism"], "SCRAM-SHA-512", "SASL mechanism")
		cfg.Net.SASL.Enable = true
		cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
		cfg.Net.SASL.User = user
		cfg.Net.SASL.Password = ctx.Security["password"]
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient {
			return &scramClient{HashGeneratorFcn: scram.SHA512}
		}
	}
	cfg.ClientID = "kafkapy-compat"
	cfg.Net.DialTimeout = 5 * time.Second
	cfg.Net.ReadTimeout = h.Timeout
	cfg.Net.WriteTimeout = h.Timeout
	cfg.Producer.Return.Successes = true
	// acks=all, as every family's producer: an acknowledged record is readable on a cluster too.
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	return cfg
}

func admin(ctx h.Ctx) sarama.ClusterAdmin {
	adm, err := sarama.NewClusterAdmin(ctx.Brokers(), config(ctx))
	h.Must(err, "new cluster admin")
	return adm
}

func createTopic(ctx h.Ctx, partitions int32, configs map[string]*string) string {
	topic := ctx.Name("t")
	adm := admin(ctx)
	defer adm.Close()
	h.Must(adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: ctx.ReplicationFactor, ConfigEntries: configs}, false), "create topic")
	return topic
}

func produce(ctx h.Ctx, msgs []*sarama.ProducerMessage, tune func(*sarama.Config)) {
	cfg := config(ctx)
	if tune != nil {
		tune(cfg)
	}
	producer, err := sarama.NewSyncProducer(ctx.Brokers(), cfg)
	h.Must(err, "new producer")
	defer producer.Close()
	h.Must(producer.SendMessages(msgs), "produce")
}

func normalise(m *sarama.ConsumerMessage) h.Rec {
	var key *string
	if m.Key != nil {
		key = h.Str(string(m.Key))
	}
	headers := [][2]string{}
	for _, hd := range m.Headers {
		headers = append(headers, [2]string{string(hd.Key), string(hd.Value)})
	}
	return h.Rec{Partition: m.Partition, Offset: m.Offset, Key: key, Value: string(m.Value), Headers: headers,
		Timestamp: m.Timestamp.UnixMilli()}
}

// read takes messages from ch until count (or the one holding stop) arrived.
func read(ch <-chan *sarama.ConsumerMessage, count int, stop string) []h.Rec {
	var out []h.Rec
	deadline := time.After(h.Timeout)
	for len(out) < count {
		select {
		case m := <-ch:
			out = append(out, normalise(m))
			if stop != "" && string(m.Value) == stop {
				return out
			}
		case <-deadline:
			return out
		}
	}
	return out
}

// consume reads partitions 0..partitions-1 from their oldest offsets.
func consume(ctx h.Ctx, topic string, count int, partitions int32, tune func(*sarama.Config), stop string) []h.Rec {
	cfg := config(ctx)
	if tune != nil {
		tune(cfg)
	}
	consumer, err := sarama.NewConsumer(ctx.Brokers(), cfg)
	h.Must(err, "new consumer")
	defer consumer.Close()
	merged := make(chan *sarama.ConsumerMessage, 64)
	for p := int32(0); p < partitions; p++ {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		h.Must(err, "consume partition")
		defer pc.AsyncClose()
		go func() {
			for m := range pc.Messages() {
				merged <- m
			}
		}()
	}
	return read(merged, count, stop)
}

func value(topic, v string) *sarama.ProducerMessage {
	return &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(v)}
}

func codec(c sarama.CompressionCodec) h.Scenario {
	return func(ctx h.Ctx) (string, error) {
		topic := createTopic(ctx, 1, nil)
		var msgs []*sarama.ProducerMessage
		for i := 0; i < 20; i++ {
			k, v := h.CodecRecord(i)
			msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(k), Value: sarama.StringEncoder(v)})
		}
		produce(ctx, msgs, func(cfg *sarama.Config) { cfg.Producer.Compression = c })
		return h.CheckCodec(consume(ctx, topic, 20, 1, nil, "")), nil
	}
}

func keys(ctx h.Ctx) (string, error) {
	topic := createTopic(ctx, 3, nil)
	var msgs []*sarama.ProducerMessage
	for i := 0; i < 30; i++ {
		k, v := h.KeysRecord(i)
		m := value(topic, v)
		if k != nil {
			m.Key = sarama.StringEncoder(*k)
		}
		msgs = append(msgs, m)
	}
	produce(ctx, msgs, nil)
	return h.CheckKeys(consume(ctx, topic, 30, 3, nil, ""), 3), nil
}

func headers(ctx h.Ctx) (string, error) {
	topic := createTopic(ctx, 1, nil)
	var msgs []*sarama.ProducerMessage
	for i := 0; i < 3; i++ {
		m := value(topic, fmt.Sprintf("h%d", i))
		for _, hd := range h.Headers {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(hd[0]), Value: []byte(hd[1])})
		}
		msgs = append(msgs, m)
	}
	produce(ctx, msgs, nil)
	return h.CheckHeaders(consume(ctx, topic, 3, 1, nil, "")), nil
}

func timestamps(ctx h.Ctx) (string, error) {
	topic := createTopic(ctx, 1, nil)
	base := h.BaseTimestamp()
	var msgs []*sarama.ProducerMessage
	for i, ts := range []int64{base, base + 1, base + 1000} {
		m := value(topic, fmt.Sprintf("t%d", i))
		m.Timestamp = time.UnixMilli(ts)
		msgs = append(msgs, m)
	}
	produce(ctx, msgs, nil)
	return h.CheckTimestamps(consume(ctx, topic, 3, 1, nil, ""), base, false), nil
}

func largeMessage(ctx h.Ctx) (string, error) {
	topic := createTopic(ctx, 1, nil)
	payload := h.Random(1_000_000)
	produce(ctx, []*sarama.ProducerMessage{{Topic: topic, Value: sarama.ByteEncoder(payload)}},
		func(cfg *sarama.Config) { cfg.Producer.MaxMessageBytes = 2_000_000 })
	got := consume(ctx, topic, 1, 1, nil, "")
	h.Eq(len(got), 1, "records consumed")
	h.Eq(len(got[0].Value), len(payload), "value length")
	h.Expect(bytes.Equal([]byte(got[0].Value), payload), "value bytes differ")
	return "1000000 bytes", nil
}

// groupHandler reads want messages of one claim, then marks and commits commitAt.
type groupHandler struct {
	want     int
	commitAt int64
	offsets  []int64
	done     chan struct{}
	once     sync.Once
}

func (g *groupHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (g *groupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (g *groupHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		if len(g.offsets) == g.want {
			continue
		}
		g.offsets = append(g.offsets, m.Offset)
		if len(g.offsets) == g.want {
			if g.commitAt >= 0 {
				sess.MarkOffset(m.Topic, m.Partition, g.commitAt, "")
				sess.Commit()
			}
			g.once.Do(func() { close(g.done) })
		}
	}
	return nil
}

func runGroup(ctx h.Ctx, group, topic string, want int, commitAt int64) []int64 {
	cg, err := sarama.NewConsumerGroup(ctx.Brokers(), group, config(ctx))
	h.Must(err, "new consumer group")
	handler := &groupHandler{want: want, commitAt: commitAt, done: make(chan struct{})}
	c, cancel := context.WithCancel(context.Background())
	finished := make(chan error, 1)
	go func() {
		var err error
		for c.Err() == nil && err == nil {
			err = cg.Consume(c, []string{topic}, handler)
		}
		finished <- err
	}()
	select {
	case <-handler.done:
	case <-time.After(h.Timeout):
	}
	cancel()
	if err := <-finished; err != nil && !errors.Is(err, context.Canceled) {
		h.Fail("consumer group: %v", err)
	}
	h.Must(cg.Close(), "close consumer group")
	return handler.offsets
}

func groupCommitResume(ctx h.Ctx) (string, error) {
	topic := createTopic(ctx, 1, nil)
	group := ctx.Name("g")
	var msgs []*sarama.ProducerMessage
	for i := 0; i < 10; i++ {
		msgs = append(msgs, value(topic, fmt.Sprintf("g%d", i)))
	}
	produce(ctx, msgs, nil)
	first := runGroup(ctx, group, topic, 6, 6)
	adm := admin(ctx)
	defer adm.Close()
	resp, err := adm.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0}})
	h.Must(err, "list consumer group offsets")
	block := resp.GetBlock(topic, 0)
	h.Expect(block != nil, "no committed offset block")
	second := runGroup(ctx, group, topic, 4, -1)
	return h.CheckGroup(first, block.Offset, second), nil
}

func idempotent(cfg *sarama.Config) {
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Net.MaxOpenRequests = 1
}

func idempotentProducer(ctx h.Ctx) (string, error) {
	topic := createTopic(ctx, 1, nil)
	var msgs []*sarama.ProducerMessage
	for i := 0; i < 50; i++ {
		msgs = append(msgs, value(topic, fmt.Sprintf("idem-%d", i)))
	}
	produce(ctx, msgs, idempotent)
	return h.CheckIdempotent(consume(ctx, topic, 50, 1, nil, "")), nil
}

func transactions(ctx h.Ctx) (string, error) {
	topic := createTopic(ctx, 1, nil)
	cfg := config(ctx)
	idempotent(cfg)
	cfg.Producer.Transaction.ID = ctx.Name("txn")
	producer, err := sarama.NewSyncProducer(ctx.Brokers(), cfg)
	h.Must(err, "new transactional producer")
	for i, values := range [][]string{h.TxnCommitted1, h.TxnAborted, h.TxnCommitted2} {
		h.Must(producer.BeginTxn(), "begin transaction")
		var msgs []*sarama.ProducerMessage
		for _, v := range values {
			msgs = append(msgs, value(topic, v))
		}
		h.Must(producer.SendMessages(msgs), "produce in transaction")
		if i == 1 {
			h.Must(producer.AbortTxn(), "abort transaction")
		} else {
			h.Must(producer.CommitTxn(), "commit transaction")
		}
	}
	h.Must(producer.Close(), "close producer")
	level := func(l sarama.IsolationLevel) func(*sarama.Config) {
		return func(cfg *sarama.Config) { cfg.Consumer.IsolationLevel = l }
	}
	committed := consume(ctx, topic, 8, 1, level(sarama.ReadCommitted), "c2-1")
	uncommitted := consume(ctx, topic, 8, 1, level(sarama.ReadUncommitted), "c2-1")
	return h.CheckTransactions(committed, uncommitted), nil
}

func adminScenario(ctx h.Ctx) (string, error) {
	topic := createTopic(ctx, 3, map[string]*string{"retention.ms": h.Str("123456789")})
	adm := admin(ctx)
	defer adm.Close()
	h.Eventually(func() {
		meta, err := adm.DescribeTopics([]string{topic})
		h.Must(err, "describe topics")
		h.Eq(len(meta), 1, "topics described")
		h.Expect(meta[0].Err == sarama.ErrNoError, "describe topics: %v", meta[0].Err)
		h.Eq(len(meta[0].Partitions), 3, "partitions")
	})
	retention := func() (string, sarama.ConfigSource) {
		entries, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic, ConfigNames: []string{"retention.ms"}})
		h.Must(err, "describe configs")
		for _, e := range entries {
			if e.Name == "retention.ms" {
				return e.Value, e.Source
			}
		}
		h.Fail("retention.ms not described")
		return "", 0
	}
	h.Eventually(func() {
		v, source := retention()
		h.Eq([]any{v, source}, []any{"123456789", sarama.SourceTopic}, "retention.ms (value, source)")
	})
	h.Must(adm.IncrementalAlterConfig(sarama.TopicResource, topic, map[string]sarama.IncrementalAlterConfigsEntry{
		"retention.ms": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: h.Str("987654321")},
	}, false), "incremental alter configs")
	h.Eventually(func() {
		v, _ := retention()
		h.Eq(v, "987654321", "retention.ms after alter")
	})
	h.Must(adm.DeleteTopic(topic), "delete topic")
	deadline := time.Now().Add(h.Timeout)
	for {
		topics, err := adm.ListTopics()
		h.Must(err, "list topics")
		if _, ok := topics[topic]; !ok {
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
	var msgs []*sarama.ProducerMessage
	for i := int64(0); i < 3; i++ {
		m := value(topic, fmt.Sprintf("o%d", i))
		m.Timestamp = time.UnixMilli(base + 1000*i)
		msgs = append(msgs, m)
	}
	produce(ctx, msgs, nil)
	client, err := sarama.NewClient(ctx.Brokers(), config(ctx))
	h.Must(err, "new client")
	defer client.Close()
	queries, want := h.OffsetsQueries(base)
	var found []int64
	for _, q := range queries {
		offset, err := client.GetOffset(topic, 0, q)
		h.Must(err, "get offset by time")
		found = append(found, offset)
	}
	h.Eq(found, want, fmt.Sprintf("offsets for %v", queries))
	return "4 lookups", nil
}

func seek(ctx h.Ctx) (string, error) {
	topic := createTopic(ctx, 1, nil)
	var msgs []*sarama.ProducerMessage
	for i := 0; i < 5; i++ {
		msgs = append(msgs, value(topic, fmt.Sprintf("s%d", i)))
	}
	produce(ctx, msgs, nil)
	consumer, err := sarama.NewConsumer(ctx.Brokers(), config(ctx))
	h.Must(err, "new consumer")
	defer consumer.Close()
	// sarama seeks by starting a partition consumer at an offset; OffsetNewest is
	// resolved before ConsumePartition returns.
	from := func(offset int64) sarama.PartitionConsumer {
		pc, err := consumer.ConsumePartition(topic, 0, offset)
		h.Must(err, "consume partition")
		return pc
	}
	pc := from(sarama.OffsetNewest)
	produce(ctx, []*sarama.ProducerMessage{value(topic, "after-end")}, nil)
	after := read(pc.Messages(), 1, "")
	h.Must(pc.Close(), "close partition consumer")
	h.Expect(len(after) == 1, "nothing read after seek to end")
	pc = from(sarama.OffsetOldest)
	beginning := read(pc.Messages(), 1, "")
	h.Must(pc.Close(), "close partition consumer")
	pc = from(3)
	absolute := read(pc.Messages(), 1, "")
	h.Must(pc.Close(), "close partition consumer")
	h.Expect(len(beginning) == 1 && len(absolute) == 1, "nothing read after a seek")
	return h.CheckSeek(-1, after[0], beginning[0].Offset, absolute[0].Offset), nil
}

func failover(ctx h.Ctx) (string, error) {
	topic := ctx.Name("t")
	func() {
		cl, err := sarama.NewClient(ctx.Brokers(), config(ctx))
		h.Must(err, "new client")
		defer cl.Close()
		h.RequireBrokers(len(cl.Brokers()))
		adm, err := sarama.NewClusterAdminFromClient(cl)
		h.Must(err, "new cluster admin")
		minInsync := h.FailoverMinInsync
		detail := &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: h.FailoverReplication,
			ConfigEntries: map[string]*string{"min.insync.replicas": &minInsync}}
		h.Must(adm.CreateTopic(topic, detail, false), "create topic")
	}()
	stream := h.NewStream(ctx, topic)
	cfg := config(ctx)
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Errors = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Net.MaxOpenRequests = 1 // sarama's condition for idempotence
	cfg.Producer.Retry.Max = 100
	cfg.Producer.Retry.Backoff = 200 * time.Millisecond
	producer, err := sarama.NewAsyncProducer(ctx.Brokers(), cfg)
	h.Must(err, "new producer")
	var pending sync.WaitGroup
	go func() {
		for m := range producer.Successes() {
			stream.Delivered(string(m.Value.(sarama.StringEncoder)), m.Offset)
			pending.Done()
		}
	}()
	go func() {
		for e := range producer.Errors() {
			stream.Failed(e.Err)
			pending.Done()
		}
	}()
	ccfg := config(ctx)
	ccfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	consumer, err := sarama.NewConsumer(ctx.Brokers(), ccfg)
	h.Must(err, "new consumer")
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
	h.Must(err, "consume partition")
	defer pc.AsyncClose()
	send := func(v string) {
		pending.Add(1)
		producer.Input() <- &sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(v)}
	}
	pump := func(d time.Duration) {
		timer := time.NewTimer(max(d, time.Millisecond))
		defer timer.Stop()
		for {
			select {
			case m := <-pc.Messages():
				stream.Read(m.Offset, string(m.Value))
			case <-timer.C:
				return
			}
		}
	}
	stream.Run(send, pump)
	flushed := make(chan struct{})
	go func() { pending.Wait(); close(flushed) }()
	select {
	case <-flushed:
	case <-time.After(60 * time.Second):
		h.Fail("records still unanswered 60 s after the last")
	}
	producer.AsyncClose()
	stream.Drain(pump)
	return stream.Check(), nil
}

func version() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/IBM/sarama" {
				return "sarama " + dep.Version + " (Config.Version " + sarama.DefaultVersion.String() + ")"
			}
		}
	}
	return "sarama"
}

// expectKind passes when err is the Kafka error kind, and fails naming what came instead.
func expectKind(err error, kind sarama.KError) string {
	h.Expect(errors.Is(err, kind), "expected %s, got %v", kind.Error(), err)
	return kind.Error()
}

func authWrongPassword(ctx h.Ctx) (string, error) {
	adm, err := sarama.NewClusterAdmin(ctx.Brokers(), config(ctx.WithWrongPassword()))
	if err == nil {
		defer adm.Close()
		_, err = adm.ListTopics()
	}
	return expectKind(err, sarama.ErrSASLAuthenticationFailed), nil
}

func authUntrustedCertificate(ctx h.Ctx) (string, error) {
	adm, err := sarama.NewClusterAdmin(ctx.Brokers(), config(ctx.WithUntrustedCertificate()))
	if err == nil {
		defer adm.Close()
		_, err = adm.ListTopics()
	}
	return h.ExpectTLSAlert(err), nil
}

func aclTopicWriteDenied(ctx h.Ctx) (string, error) {
	topic := createTopic(ctx, 1, nil)
	producer, err := sarama.NewSyncProducer(ctx.Brokers(), config(ctx))
	h.Must(err, "new producer")
	defer producer.Close()
	_, _, err = producer.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("denied")})
	return expectKind(err, sarama.ErrTopicAuthorizationFailed), nil
}

func aclGroupReadDenied(ctx h.Ctx) (string, error) {
	topic := createTopic(ctx, 1, nil)
	produce(ctx, []*sarama.ProducerMessage{{Topic: topic, Value: sarama.StringEncoder("one")}}, nil)
	cg, err := sarama.NewConsumerGroup(ctx.Brokers(), ctx.Name("g"), config(ctx))
	h.Must(err, "new consumer group")
	defer cg.Close()
	c, cancel := context.WithTimeout(context.Background(), h.Timeout)
	defer cancel()
	handler := &groupHandler{want: 1, commitAt: -1, done: make(chan struct{})}
	err = cg.Consume(c, []string{topic}, handler)
	h.Expect(len(handler.offsets) == 0, "consumed in a group without READ")
	return expectKind(err, sarama.ErrGroupAuthorizationFailed), nil
}

func main() {
	h.Main("sarama", version(), map[string]h.Scenario{
		"codec_none":                 codec(sarama.CompressionNone),
		"codec_gzip":                 codec(sarama.CompressionGZIP),
		"codec_snappy":               codec(sarama.CompressionSnappy),
		"codec_lz4":                  codec(sarama.CompressionLZ4),
		"codec_zstd":                 codec(sarama.CompressionZSTD),
		"keys":                       keys,
		"headers":                    headers,
		"timestamps":                 timestamps,
		"large_message":              largeMessage,
		"group_commit_resume":        groupCommitResume,
		"idempotent_producer":        idempotentProducer,
		"transactions":               transactions,
		"admin":                      adminScenario,
		"offsets_for_times":          offsetsForTimes,
		"seek":                       seek,
		"failover":                   failover,
		"auth_wrong_password":        authWrongPassword,
		"auth_untrusted_certificate": authUntrustedCertificate,
		"acl_topic_write_denied":     aclTopicWriteDenied,
		"acl_group_read_denied":      aclGroupReadDenied,
	}, nil)
}
