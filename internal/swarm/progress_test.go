package swarm

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	swarmtypes "github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// waitEngine is a swarm whose services move through scripted states: each
// ServiceInspect of a service takes its next step (the last one repeats).
type waitEngine struct {
	Engine
	steps map[string][]waitStep // by service ID
	polls map[string]int
}

type waitStep struct {
	status *swarmtypes.UpdateStatus
	tasks  []swarmtypes.Task
}

func (e *waitEngine) step(id string) waitStep {
	s := e.steps[id]
	return s[min(e.polls[id], len(s))-1]
}

func (e *waitEngine) ServiceInspect(_ context.Context, id string, _ client.ServiceInspectOptions) (client.ServiceInspectResult, error) {
	e.polls[id]++
	replicas := uint64(2)
	mode := swarmtypes.ServiceMode{Replicated: &swarmtypes.ReplicatedService{Replicas: &replicas}}
	if strings.HasPrefix(id, "global") {
		mode = swarmtypes.ServiceMode{Global: &swarmtypes.GlobalService{}}
	}
	return client.ServiceInspectResult{Service: swarmtypes.Service{
		ID:           id,
		Spec:         swarmtypes.ServiceSpec{Annotations: swarmtypes.Annotations{Name: "dvtest_" + id}, Mode: mode},
		UpdateStatus: e.step(id).status,
	}}, nil
}

func (e *waitEngine) TaskList(_ context.Context, o client.TaskListOptions) (client.TaskListResult, error) {
	var id string
	for k := range o.Filters["service"] {
		id = k
	}
	// The poll that inspected the service lists its tasks.
	return client.TaskListResult{Items: e.step(id).tasks}, nil
}

// task is a task meant to be in desired, observed in state, mounting secrets.
func task(desired, state swarmtypes.TaskState, secrets ...string) swarmtypes.Task {
	cs := &swarmtypes.ContainerSpec{}
	for _, s := range secrets {
		cs.Secrets = append(cs.Secrets, &swarmtypes.SecretReference{SecretID: s})
	}
	return swarmtypes.Task{DesiredState: desired, Status: swarmtypes.TaskStatus{State: state}, Spec: swarmtypes.TaskSpec{ContainerSpec: cs}}
}

const (
	running  = swarmtypes.TaskStateRunning
	shutdown = swarmtypes.TaskStateShutdown
)

var updating = &swarmtypes.UpdateStatus{State: swarmtypes.UpdateStateUpdating}

// rollingUpdate is a replicated service of 2 moving from secret "old" to
// "new" one task at a time.
func rollingUpdate() []waitStep {
	return []waitStep{
		{updating, []swarmtypes.Task{task(running, running, "old"), task(running, running, "old")}},
		{updating, []swarmtypes.Task{task(shutdown, running, "old"), task(running, swarmtypes.TaskStatePreparing, "new"), task(running, running, "old")}},
		{updating, []swarmtypes.Task{task(shutdown, shutdown, "old"), task(running, running, "new"), task(running, running, "old")}},
		{&swarmtypes.UpdateStatus{State: swarmtypes.UpdateStateCompleted}, []swarmtypes.Task{
			task(shutdown, shutdown, "old"), task(running, running, "new"), task(shutdown, shutdown, "old"), task(running, running, "new"),
		}},
	}
}

// screen is a terminal: it applies what a display wrote (text, \r, \n, and
// the cursor and erase sequences jsonmessage uses) and returns the lines
// shown, and every state a line went through.
func screen(t *testing.T, out string) (lines []string, history []string) {
	t.Helper()
	var rows [][]rune
	row, col := 0, 0
	grow := func() {
		for len(rows) <= row {
			rows = append(rows, nil)
		}
	}
	esc := regexp.MustCompile(`^\x1b\[(\d*)([ABK])`)
	for i := 0; i < len(out); {
		if m := esc.FindStringSubmatch(out[i:]); m != nil {
			n, _ := strconv.Atoi(m[1])
			switch m[2] {
			case "A":
				row -= n
			case "B":
				row += n
				grow() // the cursor ends on the line after the display
			case "K":
				assert.Assert(t, m[1] == "2", "unexpected erase %q", m[0])
				grow()
				rows[row] = nil
			}
			assert.Assert(t, row >= 0, "the cursor left the screen at byte %d", i)
			i += len(m[0])
			continue
		}
		switch c := out[i]; c {
		case '\r':
			if row < len(rows) && len(rows[row]) > 0 {
				history = append(history, strings.TrimSpace(string(rows[row])))
			}
			col = 0
		case '\n':
			row, col = row+1, 0
		case '\x1b':
			t.Fatalf("unknown escape sequence at %q", out[i:min(i+8, len(out))])
		default:
			grow()
			for len(rows[row]) <= col {
				rows[row] = append(rows[row], ' ')
			}
			rows[row][col] = rune(c)
			col++
		}
		i++
	}
	for _, r := range rows {
		lines = append(lines, strings.TrimRight(string(r), " "))
	}
	return lines, history
}

func TestWaitShowsEachServiceOnOneLine(t *testing.T) {
	eng := &waitEngine{polls: map[string]int{}, steps: map[string][]waitStep{
		"web": rollingUpdate(),
		"api": {
			{updating, []swarmtypes.Task{task(running, running, "old"), task(running, running, "old")}},
			{nil, []swarmtypes.Task{task(running, running, "new"), task(running, running, "new")}},
		},
	}}
	var out bytes.Buffer
	d := newWaitDisplay(&out)
	err := waitConverged(context.Background(), eng, []rotatedService{
		{id: "web", name: "dvtest_web", secrets: []string{"new"}},
		{id: "api", name: "dvtest_api", secrets: []string{"new"}},
	}, time.Millisecond, d)
	d.close()
	assert.NilError(t, err)

	lines, history := screen(t, out.String())
	assert.DeepEqual(t, lines, []string{
		"dvtest_web: 2 out of 2 tasks updated: converged [==================================================>]",
		"dvtest_api: 2 out of 2 tasks updated: converged [==================================================>]",
		"",
	})
	// Each state was shown once, in place: 0, then 1 (the task being
	// prepared on the new secret does not count), then 2 of 2.
	assert.DeepEqual(t, history, []string{
		"dvtest_web: 0 out of 2 tasks updated [>                                                  ]",
		"dvtest_api: 0 out of 2 tasks updated [>                                                  ]",
		"dvtest_api: 2 out of 2 tasks updated: converged [==================================================>]",
		"dvtest_web: 1 out of 2 tasks updated [=========================>                         ]",
		"dvtest_web: 2 out of 2 tasks updated: converged [==================================================>]",
	})
	assert.Check(t, is.Equal(eng.polls["api"], 2), "a converged service is not polled again")
	assert.Check(t, is.Equal(eng.polls["web"], 4))
}

func TestWaitRollbackIsShownAndFails(t *testing.T) {
	eng := &waitEngine{polls: map[string]int{}, steps: map[string][]waitStep{"web": {
		{updating, []swarmtypes.Task{task(running, running, "old"), task(running, running, "old")}},
		{&swarmtypes.UpdateStatus{State: swarmtypes.UpdateStateRollbackStarted, Message: "update rolled back due to failure"},
			[]swarmtypes.Task{task(running, running, "old"), task(running, running, "old")}},
	}}}
	var out bytes.Buffer
	d := newWaitDisplay(&out)
	err := waitConverged(context.Background(), eng, []rotatedService{{id: "web", name: "dvtest_web", secrets: []string{"new"}}}, time.Millisecond, d)
	d.close()
	assert.Error(t, err, "update of service dvtest_web rolled back: update rolled back due to failure")
	lines, _ := screen(t, out.String())
	assert.DeepEqual(t, lines, []string{"dvtest_web: update rolled back: update rolled back due to failure", ""})
}

func TestWaitNeedsEveryNewSecretOfAService(t *testing.T) {
	// Two of the service's secrets rotated: tasks on only one of them are
	// not updated.
	eng := &waitEngine{polls: map[string]int{}, steps: map[string][]waitStep{"web": {
		{nil, []swarmtypes.Task{task(running, running, "a2", "b1"), task(running, running, "a2", "b1")}},
		{nil, []swarmtypes.Task{task(running, running, "a2", "b2"), task(running, running, "a2", "b1")}},
		{nil, []swarmtypes.Task{task(running, running, "a2", "b2"), task(running, running, "a2", "b2")}},
	}}}
	var out bytes.Buffer
	d := newWaitDisplay(&out)
	rotated := addRotated(nil, "web", "dvtest_web", "a2")
	rotated = addRotated(rotated, "web", "dvtest_web", "b2")
	assert.Check(t, is.Len(rotated, 1))
	err := waitConverged(context.Background(), eng, rotated, time.Millisecond, d)
	d.close()
	assert.NilError(t, err)
	_, history := screen(t, out.String())
	assert.Check(t, is.Len(history, 3))
	assert.Check(t, is.Contains(history[0], "0 out of 2 tasks updated"))
	assert.Check(t, is.Contains(history[1], "1 out of 2 tasks updated"))
	assert.Check(t, is.Contains(history[2], "2 out of 2 tasks updated: converged"))
}

func TestWaitGlobalServiceCountsItsTasks(t *testing.T) {
	eng := &waitEngine{polls: map[string]int{}, steps: map[string][]waitStep{"global-agent": {
		{nil, []swarmtypes.Task{task(running, running, "new"), task(running, running, "old"), task(running, running, "old")}},
		{nil, []swarmtypes.Task{task(running, running, "new"), task(running, running, "new"), task(running, running, "new")}},
	}}}
	var out bytes.Buffer
	d := newWaitDisplay(&out)
	err := waitConverged(context.Background(), eng, []rotatedService{{id: "global-agent", name: "dvtest_global-agent", secrets: []string{"new"}}}, time.Millisecond, d)
	d.close()
	assert.NilError(t, err)
	_, history := screen(t, out.String())
	assert.Check(t, is.Len(history, 2))
	assert.Check(t, is.Contains(history[0], "1 out of 3 tasks updated"))
	assert.Check(t, is.Contains(history[1], "3 out of 3 tasks updated: converged"))
}

func TestWaitWithoutDisplayIsSilentAndCancellable(t *testing.T) {
	// A nil writer is no display; the wait still ends with the context.
	d := newWaitDisplay(nil)
	assert.Check(t, d == nil)
	eng := &waitEngine{polls: map[string]int{}, steps: map[string][]waitStep{"web": rollingUpdate()[:1]}}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := waitConverged(ctx, eng, []rotatedService{{id: "web", name: "dvtest_web", secrets: []string{"new"}}}, time.Millisecond, d)
	assert.ErrorContains(t, err, "waiting for service dvtest_web to converge: context deadline exceeded")
	d.close()
}

func TestWaitDisplayWidthFromTheTerminal(t *testing.T) {
	// A narrow terminal (its descriptor says so) gets no bar, as docker
	// pull draws none under 110 columns; here the descriptor is not a
	// terminal at all, so the default width draws one.
	var out bytes.Buffer
	d := newWaitDisplay(fdWriter{&out})
	d.show(serviceState{name: "dvtest_web", updated: 1, total: 4})
	d.close()
	lines, _ := screen(t, out.String())
	assert.DeepEqual(t, lines, []string{"dvtest_web: 1 out of 4 tasks updated [============>                                      ]", ""})
}

// fdWriter is a writer with a descriptor, as the docker CLI's streams are.
type fdWriter struct{ *bytes.Buffer }

func (fdWriter) FD() uintptr { return ^uintptr(0) }
