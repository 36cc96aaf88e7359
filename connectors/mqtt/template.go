package mqtt

import (
	"fmt"
	"strconv"
	"strings"
)

// template renders a Kafka topic or record key from an MQTT topic. It
// understands {mqtt.topic} (the whole topic) and {mqtt.topic.N} (the N-th
// '/'-separated level, from 0); everything else is literal.
type template struct {
	parts []tmplPart
}

type tmplPart struct {
	literal string
	level   int // -1: whole topic; -2: literal
}

const (
	partWhole   = -1
	partLiteral = -2
)

func parseTemplate(s string) (*template, error) {
	t := &template{}
	for len(s) > 0 {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			t.parts = append(t.parts, tmplPart{literal: s, level: partLiteral})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, tmplPart{literal: s[:i], level: partLiteral})
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("unclosed '{' at position %d", i)
		}
		name := s[i+1 : i+j]
		switch {
		case name == "mqtt.topic":
			t.parts = append(t.parts, tmplPart{level: partWhole})
		case strings.HasPrefix(name, "mqtt.topic."):
			n, err := strconv.Atoi(strings.TrimPrefix(name, "mqtt.topic."))
			if err != nil || n < 0 {
				return nil, fmt.Errorf("placeholder {%s}: the level must be a number from 0", name)
			}
			t.parts = append(t.parts, tmplPart{level: n})
		default:
			return nil, fmt.Errorf("unknown placeholder {%s}; use {mqtt.topic} or {mqtt.topic.N}", name)
		}
		s = s[i+j+1:]
	}
	return t, nil
}

// render returns the template applied to an MQTT topic; a level beyond the
// topic's depth renders empty.
func (t *template) render(topic string) string {
	if len(t.parts) == 1 && t.parts[0].level == partLiteral {
		return t.parts[0].literal
	}
	var b strings.Builder
	var levels []string
	for _, p := range t.parts {
		switch p.level {
		case partLiteral:
			b.WriteString(p.literal)
		case partWhole:
			b.WriteString(topic)
		default:
			if levels == nil {
				levels = strings.Split(topic, "/")
			}
			if p.level < len(levels) {
				b.WriteString(levels[p.level])
			}
		}
	}
	return b.String()
}

// kafkaTopicName makes a rendered name a legal Kafka topic name: '/' becomes
// '.', and any other character outside [a-zA-Z0-9._-] becomes '_'.
func kafkaTopicName(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c == '/':
			b[i] = '.'
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			b[i] = '_'
		}
	}
	if len(b) > 249 {
		b = b[:249]
	}
	return string(b)
}
