package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"os"
	"strings"
	"time"

	"github.com/depot-backup/depot/hosts"
)

// command runs a program with the event as JSON on its stdin and its kind
// in DEPOT_EVENT.
type command struct{ argv []string }

// Notify implements Notifier.
func (c *command) Notify(ctx context.Context, ev Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	return hosts.Local{}.Run(ctx, hosts.Command{
		Argv:  c.argv,
		Env:   []string{"DEPOT_EVENT=" + string(ev.Kind), "DEPOT_SET=" + ev.Set, "DEPOT_STATUS=" + ev.Status},
		Stdin: bytes.NewReader(body),
	})
}

// DefaultSendmail is the program email hands messages to.
const DefaultSendmail = "/usr/sbin/sendmail"

// email hands a message to the local sendmail -t: the summary, then the
// log's tail.
type email struct{ cfg Config }

// Notify implements Notifier.
func (m *email) Notify(ctx context.Context, ev Event) error {
	prog := m.cfg.Sendmail
	if prog == "" {
		prog = DefaultSendmail
	}
	return hosts.Local{}.Run(ctx, hosts.Command{
		Argv:  []string{prog, "-t", "-i"},
		Stdin: bytes.NewReader(m.message(ev)),
	})
}

// message is the whole mail, headers included.
func (m *email) message(ev Event) []byte {
	from := m.cfg.From
	if from == "" {
		host, _ := os.Hostname()
		from = "depot@" + host
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\n", from)
	fmt.Fprintf(&b, "To: %s\n", strings.Join(m.cfg.To, ", "))
	fmt.Fprintf(&b, "Subject: %s\n", mime.QEncoding.Encode("utf-8", ev.Subject()))
	fmt.Fprintf(&b, "Date: %s\n", time.Now().Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n")
	fmt.Fprintf(&b, "X-Depot-Event: %s\nX-Depot-Set: %s\n\n", ev.Kind, ev.Set)
	text := ev.Summary()
	if t := tail(ev.LogTail); t != "" {
		text += "\nlog:\n" + t
	}
	// sendmail wants LF line endings; -i keeps a line of only "." from ending the message.
	b.WriteString(strings.ReplaceAll(text, "\r", ""))
	return b.Bytes()
}
