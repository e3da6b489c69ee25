// The share-group scenarios (KIP-932) with franz-go's share consumer (kgo.ShareGroup);
// compat_tests/scenarios.py specifies them.
package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	h "kafkapy.dev/compat/harness"
)

const (
	shareDistinctCount   = 30
	shareConsumers       = 3
	sharePeriod          = 100 * time.Millisecond
	shareLockMs          = 2000
	shareQuiet           = 3 * time.Second
	shareRestartCount    = 6
	shareRestartAccepted = 3
	// configResourceGroup is ConfigResource.Type.GROUP (KIP-848's group configs).
	configResourceGroup = kmsg.ConfigResourceType(32)
)

// shareSetup creates a topic of one partition and sets the group's configs: read from
// the start, and configs.
func shareSetup(ctx h.Ctx, configs map[string]string) (string, string) {
	topic, group := createTopic(ctx, 1, nil), ctx.Name("sg")
	all := map[string]string{"share.auto.offset.reset": "earliest"}
	for k, v := range configs {
		all[k] = v
	}
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = configResourceGroup, group
	for k, v := range all {
		rc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		rc.Name, rc.Value, rc.Op = k, h.Str(v), kmsg.IncrementalAlterConfigOpSet
		res.Configs = append(res.Configs, rc)
	}
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.Resources = append(req.Resources, res)
	cl := client(ctx)
	defer cl.Close()
	c, cancel := timeout()
	defer cancel()
	resp, err := req.RequestWith(c, cl)
	h.Must(err, "alter group configs")
	for _, r := range resp.Resources {
		h.Must(kerr.ErrorForCode(r.ErrorCode), "alter group configs")
	}
	return topic, group
}

// shareConsumer fetches only when polled (MaxConcurrentFetches(0)), as the Java and
// librdkafka share consumers do: a consumer that holds a record does not take it again.
func shareConsumer(ctx h.Ctx, group, topic string, maxRecords int32) *kgo.Client {
	return client(ctx, kgo.ShareGroup(group), kgo.ConsumeTopics(topic), kgo.ShareMaxRecords(maxRecords),
		kgo.MaxConcurrentFetches(0))
}

func delivery(r *kgo.Record) string {
	return fmt.Sprintf("%d:%s:%d", r.Offset, r.Value, r.DeliveryCount())
}

// sharePoll polls once for up to 300 ms.
func sharePoll(cl *kgo.Client) []*kgo.Record {
	c, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	fetches := cl.PollRecords(c, 0)
	for _, fe := range fetches.Errors() {
		if !errors.Is(fe.Err, context.DeadlineExceeded) && !errors.Is(fe.Err, context.Canceled) {
			h.Fail("share fetch error on %s[%d]: %v", fe.Topic, fe.Partition, fe.Err)
		}
	}
	return fetches.Records()
}

func flushAcks(cl *kgo.Client) {
	c, cancel := timeout()
	defer cancel()
	h.Must(cl.FlushAcks(c), "flush acks")
}

// deliveries ("offset:value:count") until want arrived or the timeout passed, each
// acknowledged as ack says, the acknowledgements flushed after every poll.
func deliveries(cl *kgo.Client, want int, within time.Duration, ack func(*kgo.Record) kgo.AckStatus) []string {
	got := []string{}
	deadline := time.Now().Add(within)
	for len(got) < want && time.Now().Before(deadline) {
		recs := sharePoll(cl)
		for _, r := range recs {
			got = append(got, delivery(r))
			r.Ack(ack(r))
		}
		if len(recs) > 0 {
			flushAcks(cl)
		}
	}
	return got
}

func accept(*kgo.Record) kgo.AckStatus { return kgo.AckAccept }

func shareDistinct(ctx h.Ctx) (string, error) {
	topic, group := shareSetup(ctx, nil)
	received := make([][]int64, shareConsumers)
	var mu sync.Mutex
	var failures []string
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i := range received {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprint(p))
					mu.Unlock()
				}
			}()
			cl := shareConsumer(ctx, group, topic, 5)
			defer cl.Close()
			for {
				select {
				case <-done:
					return
				default:
				}
				recs := sharePoll(cl)
				for _, r := range recs {
					mu.Lock()
					received[i] = append(received[i], r.Offset)
					mu.Unlock()
					r.Ack(kgo.AckAccept)
				}
				if len(recs) > 0 {
					flushAcks(cl)
					time.Sleep(sharePeriod) // leave the other members room to acquire
				}
			}
		}()
	}
	total := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, mine := range received {
			n += len(mine)
		}
		return n
	}
	func() {
		defer func() { close(done); wg.Wait() }()
		time.Sleep(3 * time.Second) // every member joins (assignment) before the records arrive
		producer := client(ctx, kgo.ProducerLinger(0))
		defer producer.Close()
		for i := 0; i < shareDistinctCount; i++ {
			c, cancel := timeout()
			err := producer.ProduceSync(c, value(topic, fmt.Sprintf("share-%d", i))).FirstErr()
			cancel()
			h.Must(err, "produce")
			time.Sleep(sharePeriod)
		}
		deadline := time.Now().Add(h.Timeout)
		for time.Now().Before(deadline) && total() < shareDistinctCount {
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(shareQuiet) // a record delivered twice would show now
	}()
	h.Expect(len(failures) == 0, "consumer error: %v", failures)
	all, counts, with := []int64{}, []int{}, 0
	expected := []int64{}
	for _, mine := range received {
		all = append(all, mine...)
		counts = append(counts, len(mine))
		if len(mine) > 0 {
			with++
		}
	}
	for i := int64(0); i < shareDistinctCount; i++ {
		expected = append(expected, i)
	}
	slices.Sort(all)
	h.Eq(all, expected, "offsets delivered, all consumers together")
	h.Expect(with >= 2, "one consumer got every record: %v", counts)
	return fmt.Sprintf("%d records once each, per consumer %v", shareDistinctCount, counts), nil
}

// acknowledgeFirst: a, b, c; a acknowledged with first, b and c accepted; then whatever comes back.
func acknowledgeFirst(ctx h.Ctx, first kgo.AckStatus, want int) []string {
	topic, group := shareSetup(ctx, nil)
	produce(ctx, []*kgo.Record{value(topic, "a"), value(topic, "b"), value(topic, "c")})
	cl := shareConsumer(ctx, group, topic, 500)
	defer cl.Close()
	ack := func(r *kgo.Record) kgo.AckStatus {
		if string(r.Value) == "a" && r.DeliveryCount() == 1 {
			return first
		}
		return kgo.AckAccept
	}
	got := deliveries(cl, want, h.Timeout, ack)
	return append(got, deliveries(cl, 1, shareQuiet, ack)...)
}

func shareRelease(ctx h.Ctx) (string, error) {
	got := acknowledgeFirst(ctx, kgo.AckRelease, 4)
	h.Eq(got, []string{"0:a:1", "1:b:1", "2:c:1", "0:a:2"}, "deliveries (offset:value:delivery count)")
	return "a released, redelivered with delivery count 2", nil
}

func shareReject(ctx h.Ctx) (string, error) {
	got := acknowledgeFirst(ctx, kgo.AckReject, 3)
	h.Eq(got, []string{"0:a:1", "1:b:1", "2:c:1"}, "deliveries (offset:value:delivery count)")
	return "a rejected, not redelivered", nil
}

func shareLockExpiry(ctx h.Ctx) (string, error) {
	topic, group := shareSetup(ctx, map[string]string{"share.record.lock.duration.ms": fmt.Sprint(shareLockMs)})
	produce(ctx, []*kgo.Record{value(topic, "x")})
	holder := shareConsumer(ctx, group, topic, 500)
	defer holder.Close()
	held := []string{}
	deadline := time.Now().Add(h.Timeout)
	for len(held) == 0 && time.Now().Before(deadline) {
		for _, r := range sharePoll(holder) {
			held = append(held, delivery(r))
		}
	}
	h.Eq(held, []string{"0:x:1"}, "the first consumer's delivery")
	taker := shareConsumer(ctx, group, topic, 500)
	defer taker.Close()
	got := deliveries(taker, 1, h.Timeout+shareLockMs*time.Millisecond, accept)
	h.Eq(got, []string{"0:x:2"}, "the second consumer's delivery, after the lock expired")
	return fmt.Sprintf("x redelivered to another consumer with delivery count 2 after its %d ms lock", shareLockMs), nil
}

func shareRestart(ctx h.Ctx) (string, error) {
	topic, group := shareSetup(ctx, nil)
	records := []*kgo.Record{}
	for i := 0; i < shareRestartCount; i++ {
		records = append(records, value(topic, fmt.Sprintf("m%d", i)))
	}
	produce(ctx, records)
	func() {
		cl := shareConsumer(ctx, group, topic, 500)
		defer cl.Close()
		first := deliveries(cl, shareRestartCount, h.Timeout, func(r *kgo.Record) kgo.AckStatus {
			if r.Offset < shareRestartAccepted {
				return kgo.AckAccept
			}
			return kgo.AckRelease
		})
		h.Eq(len(first), shareRestartCount, fmt.Sprintf("first deliveries %v", first))
	}()
	restart := h.RequestFaultKind(ctx, topic, 0, "restart")
	deadline := time.Now().Add(h.FailoverWait)
	for !restart.Answered() {
		h.Expect(time.Now().Before(deadline), "the harness did not answer the restart request")
		time.Sleep(100 * time.Millisecond)
	}
	how := restart.Result()
	cl := shareConsumer(ctx, group, topic, 500)
	defer cl.Close()
	got := deliveries(cl, shareRestartCount-shareRestartAccepted, 60*time.Second, accept)
	got = append(got, deliveries(cl, 1, shareQuiet, accept)...)
	seen := []string{}
	for _, d := range got {
		cut := strings.LastIndex(d, ":")
		seen = append(seen, d[:cut])
		count, _ := strconv.Atoi(d[cut+1:])
		h.Expect(count >= 2, "deliveries after the restart: delivery count below 2: %v", got)
	}
	h.Eq(seen, []string{"3:m3", "4:m4", "5:m5"}, "deliveries after the restart (offset:value)")
	return "released records redelivered after the restart, accepted ones not; " + how, nil
}
