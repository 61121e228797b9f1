// Depfiles: the Makefile fragments that compilers write (gcc -MD -MF f.d)
// to name the headers a compilation read. pex reads their prerequisites as
// discovered inputs.

package cache

import (
	"bytes"
	"fmt"
)

// ParseDepfile returns the prerequisites named by a Makefile-style depfile,
// in order of first appearance, each once. Targets are dropped. It accepts
// what gcc and clang write (with -MD, -MMD, -MP, -MT):
//
//   - rules "targets: prerequisites", several per file, with empty
//     prerequisite lists (the phony "h:" rules of -MP) allowed;
//   - a backslash before a newline (LF or CRLF) continues the line;
//   - spaces and tabs separate names; 2N+1 backslashes before one stand for
//     N backslashes and a space in the name, 2N backslashes for N
//     backslashes at the end of the name (GNU make's rule, which gcc
//     follows); the same holds before a newline or the end of the file;
//   - "\#" is "#", and "$$" is "$";
//   - other backslashes are literal; an unescaped "#" starts a comment that
//     runs to the end of the line.
//
// The first unescaped ":" of a line ends its targets; later colons are part
// of names. A line that names something but has no ":" is an error.
func ParseDepfile(data []byte) ([]string, error) {
	p := depParser{data: data, line: 1, inTargets: true, seen: map[string]bool{}}
	if err := p.parse(); err != nil {
		return nil, err
	}
	return p.prereqs, nil
}

type depParser struct {
	data      []byte
	i         int
	line      int    // current physical line, for errors
	word      []byte // the name being read
	inTargets bool   // no ":" yet on this logical line
	targets   int    // targets read on this logical line
	prereqs   []string
	seen      map[string]bool
}

func (p *depParser) parse() error {
	for p.i < len(p.data) {
		var err error
		switch c := p.data[p.i]; c {
		case ' ', '\t', '\r':
			p.endWord()
			p.i++
		case '\n':
			err = p.endLine()
			p.i++
			p.line++
		case '\\':
			p.backslashes()
		case '$':
			p.word = append(p.word, '$')
			p.i++
			if p.i < len(p.data) && p.data[p.i] == '$' {
				p.i++
			}
		case '#':
			p.endWord()
			p.skipComment()
		case ':':
			p.colon()
		default:
			p.word = append(p.word, c)
			p.i++
		}
		if err != nil {
			return err
		}
	}
	return p.endLine()
}

// backslashes reads a run of backslashes and what it escapes.
func (p *depParser) backslashes() {
	start := p.i
	for p.i < len(p.data) && p.data[p.i] == '\\' {
		p.i++
	}
	k := p.i - start
	next, crlf := byte(0), false
	if p.i < len(p.data) {
		next = p.data[p.i]
		crlf = next == '\r' && p.i+1 < len(p.data) && p.data[p.i+1] == '\n'
	}
	switch {
	case p.i == len(p.data):
		p.word = append(p.word, bytes.Repeat([]byte{'\\'}, k/2)...)
	case next == ' ' || next == '\t' || next == '\n' || crlf:
		p.word = append(p.word, bytes.Repeat([]byte{'\\'}, k/2)...)
		if k%2 == 0 {
			return // the separator ends the name; the caller reads it
		}
		if next == ' ' || next == '\t' {
			p.word = append(p.word, next)
			p.i++
			return
		}
		p.endWord() // an escaped newline: the line continues
		p.i++
		if crlf {
			p.i++
		}
		p.line++
	case next == '#':
		p.word = append(p.word, bytes.Repeat([]byte{'\\'}, k-1)...)
		p.word = append(p.word, '#')
		p.i++
	default:
		p.word = append(p.word, bytes.Repeat([]byte{'\\'}, k)...)
	}
}

// colon ends the targets of a line at its first colon ("::" too); later
// colons are part of names.
func (p *depParser) colon() {
	p.i++
	if !p.inTargets {
		p.word = append(p.word, ':')
		return
	}
	p.endWord()
	p.inTargets = false
	if p.i < len(p.data) && p.data[p.i] == ':' {
		p.i++
	}
}

// skipComment skips to the end of the line, leaving the newline.
func (p *depParser) skipComment() {
	if n := bytes.IndexByte(p.data[p.i:], '\n'); n >= 0 {
		p.i += n
	} else {
		p.i = len(p.data)
	}
}

func (p *depParser) endWord() {
	if len(p.word) == 0 {
		return
	}
	if p.inTargets {
		p.targets++
	} else if w := string(p.word); !p.seen[w] {
		p.seen[w] = true
		p.prereqs = append(p.prereqs, w)
	}
	p.word = p.word[:0]
}

func (p *depParser) endLine() error {
	p.endWord()
	if p.inTargets && p.targets > 0 {
		return fmt.Errorf("depfile:%d: expected ':' after target", p.line)
	}
	p.inTargets, p.targets = true, 0
	return nil
}
