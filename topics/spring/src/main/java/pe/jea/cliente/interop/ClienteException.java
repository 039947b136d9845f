package pe.jea.cliente.interop;

/**
 * An error reply of the customer service (topics/CONTRACT.md §3, §4): the
 * {@code cliente_error} header's code, the {@code cliente_error_message}
 * header's text, and the reply body, which holds {@code error.fields}.
 */
public final class ClienteException extends RuntimeException {

    private final String code;
    private final String body;

    public ClienteException(String code, String message, String body) {
        super(code + ": " + message);
        this.code = code;
        this.body = body;
    }

    public String code() {
        return code;
    }

    public String body() {
        return body;
    }
}
