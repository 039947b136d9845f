package handlers

import (
	"errors"
	"fmt"
)

// Code classifies every failure the service reports. Transports map each code
// to their own vocabulary in exactly one place: the HTTP edge to a status, the
// Kafka contract to a reply code.
type Code string

const (
	CodeInvalid  Code = "invalid"
	CodeNotFound Code = "not_found"
	CodeConflict Code = "conflict"
	// CodePrecondition: the request was conditional on a version the
	// customer no longer has (HTTP If-Match, Kafka meta.expectedVersion).
	CodePrecondition Code = "precondition_failed"
	CodeUnavailable  Code = "unavailable"
	CodeInternal     Code = "internal"
)

// Known reports whether c is one of the codes above; decoders use it to map
// an unknown code from a newer peer to CodeInternal.
func (c Code) Known() bool {
	switch c {
	case CodeInvalid, CodeNotFound, CodeConflict, CodePrecondition, CodeUnavailable, CodeInternal:
		return true
	}
	return false
}

// FieldError names one field of a request and what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is the one error type of the service. Message is safe to show to a
// client; Err, if set, is the underlying cause and is only logged.
type Error struct {
	Code    Code
	Message string
	Fields  []FieldError
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error with a client-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap builds an *Error that keeps cause for the logs only.
func Wrap(code Code, cause error, message string) *Error {
	return &Error{Code: code, Message: message, Err: cause}
}

// Conflict reports that field already holds value on another customer.
func Conflict(field string) *Error {
	return &Error{
		Code:    CodeConflict,
		Message: fmt.Sprintf("another customer already has this %s", field),
		Fields:  []FieldError{{Field: field, Message: "already in use"}},
	}
}

// Stale reports that a conditional change found the customer at another
// version than the caller expected.
func Stale(current int64) *Error {
	return &Error{
		Code:    CodePrecondition,
		Message: fmt.Sprintf("the customer has changed since you read it: it is now at version %d", current),
		Fields:  []FieldError{{Field: "version", Message: "does not match the current version"}},
	}
}

// ErrorCode returns the code of err: the code of the first *Error in its
// chain, CodeInternal for any other non-nil error, "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// AsError returns err as an *Error, wrapping foreign errors as internal ones
// with a generic message so that no internal detail reaches a client.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Wrap(CodeInternal, err, "internal error")
}

// fieldErrors collects the problems of one request, so that every wrong
// field is named at once.
type fieldErrors []FieldError

func (v *fieldErrors) add(field, msg string) {
	*v = append(*v, FieldError{Field: field, Message: msg})
}

// addFrom adds the field errors of err, if it has any.
func (v *fieldErrors) addFrom(err error) {
	if err != nil {
		*v = append(*v, AsError(err).Fields...)
	}
}

// err is nil without problems, else an invalid-request error with message.
func (v fieldErrors) err(message string) error {
	if len(v) == 0 {
		return nil
	}
	return &Error{Code: CodeInvalid, Message: message, Fields: v}
}

// PrintableASCII reports whether s has only printable ASCII characters:
// what identifiers other systems give us (sale ids, idempotency keys) may
// hold.
func PrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
