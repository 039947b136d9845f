package pe.jea.cliente.interop;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.springframework.kafka.core.ProducerFactory;
import org.springframework.kafka.requestreply.KafkaReplyTimeoutException;
import org.springframework.kafka.requestreply.ReplyingKafkaTemplate;
import org.springframework.kafka.support.KafkaHeaders;

/**
 * Calls the customer service the way a Spring Kafka application would and
 * checks each answer against topics/CONTRACT.md. Prints one "ok ..." line
 * per passed check; exits 0 only if all pass, else prints "FAIL ..." and
 * exits 1 (2 for bad arguments, 3 when the whole run exceeds its limit).
 */
public final class SpringInterop {

    private static final Duration RUN_LIMIT = Duration.ofSeconds(60);
    private static final long MISSING_ID = 9_000_000_000_000L;

    private final ObjectMapper json = new ObjectMapper();
    private final String bootstrap;
    private final String commandTopic;
    private final String queryTopic;
    private final String replyTopic;
    private final String dni;

    private SpringInterop(String bootstrap, String commandTopic, String queryTopic, String replyTopic, String dni) {
        this.bootstrap = bootstrap;
        this.commandTopic = commandTopic;
        this.queryTopic = queryTopic;
        this.replyTopic = replyTopic;
        this.dni = dni;
    }

    public static void main(String[] args) {
        if (args.length != 5 || !args[4].matches("[0-9]{8}")) {
            System.err.println("usage: java -jar cliente-spring-interop.jar"
                    + " BOOTSTRAP_SERVERS COMMAND_TOPIC QUERY_TOPIC REPLY_TOPIC DNI(8 digits)");
            System.exit(2);
        }
        startWatchdog();
        int status = 1;
        try {
            new SpringInterop(args[0], args[1], args[2], args[3], args[4]).run();
            System.out.println("all checks passed");
            status = 0;
        }
        catch (CheckFailed e) {
            System.out.println("FAIL " + e.getMessage());
        }
        catch (Exception e) {
            System.out.println("FAIL unexpected " + e);
            e.printStackTrace(System.out);
        }
        System.out.flush();
        // Kafka and Spring leave non-daemon threads; the result is already printed.
        Runtime.getRuntime().halt(status);
    }

    /** Ends the JVM if anything (broker, worker, Kafka client) hangs past RUN_LIMIT. */
    private static void startWatchdog() {
        Thread watchdog = new Thread(() -> {
            try {
                Thread.sleep(RUN_LIMIT.toMillis());
            }
            catch (InterruptedException e) {
                return;
            }
            System.out.println("FAIL the program did not finish within " + RUN_LIMIT.toSeconds() + "s");
            System.out.flush();
            Runtime.getRuntime().halt(3);
        }, "watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
    }

    private void run() throws Exception {
        // A second reply topic, because a reply container serves one template
        // and the text-correlation template is a separate one.
        String textReplyTopic = replyTopic + ".text";
        try (Admin admin = Admin.create(ClienteTemplates.withSasl(Map.<String, Object>of(
                AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 10_000,
                AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 5_000)))) {
            requireTopic(admin, commandTopic);
            requireTopic(admin, queryTopic);
            ensureReplyTopic(admin, replyTopic);
            ensureReplyTopic(admin, textReplyTopic);
        }
        ProducerFactory<String, String> producers = ClienteTemplates.producerFactory(bootstrap);
        var binary = ClienteTemplates.start(producers, bootstrap, replyTopic, true);
        var text = ClienteTemplates.start(producers, bootstrap, textReplyTopic, false);
        try {
            JsonNode created = checkCrear(binary);
            long id = created.path("id").asLong();
            checkObtener(binary, id, created);
            checkObtenerMissing(binary);
            checkCrearDuplicateDni(binary);
            checkTextCorrelation(text, id, created);
        }
        finally {
            binary.stop();
            text.stop();
        }
    }

    // --- checks -----------------------------------------------------------

    private JsonNode checkCrear(ReplyingKafkaTemplate<String, String, String> template) throws Exception {
        String email = "Spring." + dni + "." + System.currentTimeMillis() + "@Example.PE";
        ObjectNode data = json.createObjectNode()
                .put("dni", " " + dni + " ")
                .put("nombre", "Rosa")
                .put("apellido", "Huamán")
                .put("email", email)
                .put("telefono", "987 654 321");
        // §2.1: commands are keyed by data.dni as sent, trimmed.
        Exchange ex = call(template, commandTopic, dni, envelope("cliente.crear", data));
        JsonNode c = okData(ex, "cliente.crear");
        expect(c.path("id").canConvertToLong() && c.path("id").asLong() > 0, "crear: id", c);
        expect(c.path("activo").isBoolean() && c.path("activo").asBoolean(), "crear: activo true", c);
        expect(c.path("version").asInt() == 1, "crear: version 1", c);
        expect(dni.equals(c.path("dni").asText()), "crear: dni normalised to " + dni, c);
        expect(email.toLowerCase().equals(c.path("email").asText()), "crear: email lower-cased", c);
        expect("Huamán".equals(c.path("apellido").asText()), "crear: UTF-8 apellido kept", c);
        expect("+51987654321".equals(c.path("telefono").asText()), "crear: telefono in E.164", c);

        // Spring's default headers went out, and the reply came back where they said.
        byte[] correlation = header(ex.request().headers(), KafkaHeaders.CORRELATION_ID);
        expect(correlation != null && correlation.length == 16,
                "crear: binary kafka_correlationId of 16 bytes sent", ex.request().headers());
        expect(replyTopic.equals(text(header(ex.request().headers(), KafkaHeaders.REPLY_TOPIC))),
                "crear: kafka_replyTopic sent", ex.request().headers());
        byte[] partition = header(ex.request().headers(), KafkaHeaders.REPLY_PARTITION);
        expect(partition != null && partition.length == 4 && ByteBuffer.wrap(partition).getInt() == 0,
                "crear: kafka_replyPartition 0 sent", ex.request().headers());
        expect(ex.reply().topic().equals(replyTopic) && ex.reply().partition() == 0,
                "crear: reply on " + replyTopic + "[0]", ex.reply().topic() + "[" + ex.reply().partition() + "]");
        expect(Arrays.equals(partition, header(ex.reply().headers(), KafkaHeaders.REPLY_PARTITION)),
                "crear: kafka_replyPartition echoed", ex.reply().headers());
        System.out.printf("ok crear id=%d dni=%s version=1 activo=true (16-byte kafka_correlationId,"
                + " kafka_replyPartition=0 sent and echoed)%n", c.path("id").asLong(), dni);
        return c;
    }

    private void checkObtener(ReplyingKafkaTemplate<String, String, String> template, long id, JsonNode created)
            throws Exception {
        Exchange ex = call(template, queryTopic, null, envelope("cliente.obtener", idData(id)));
        JsonNode c = okData(ex, "cliente.obtener");
        expect(c.equals(created), "obtener: same customer as created " + created, c);
        System.out.printf("ok obtener id=%d same customer%n", id);
    }

    private void checkObtenerMissing(ReplyingKafkaTemplate<String, String, String> template) throws Exception {
        ClienteException e = callExpectingError(template, queryTopic, null,
                envelope("cliente.obtener", idData(MISSING_ID)));
        expect("not_found".equals(e.code()), "obtener missing: code not_found", e.getMessage());
        JsonNode body = json.readTree(e.body());
        expect("not_found".equals(body.path("error").path("code").asText()),
                "obtener missing: body error.code not_found", e.body());
        System.out.printf("ok obtener missing id=%d -> ClienteException %s%n", MISSING_ID, e.getMessage());
    }

    private void checkCrearDuplicateDni(ReplyingKafkaTemplate<String, String, String> template) throws Exception {
        ObjectNode data = json.createObjectNode()
                .put("dni", dni)
                .put("nombre", "Otra")
                .put("email", "otra." + dni + "." + System.currentTimeMillis() + "@example.pe");
        ClienteException e = callExpectingError(template, commandTopic, dni, envelope("cliente.crear", data));
        expect("conflict".equals(e.code()), "crear duplicate dni: code conflict", e.getMessage());
        boolean dniField = false;
        for (JsonNode f : json.readTree(e.body()).path("error").path("fields")) {
            dniField |= "dni".equals(f.path("field").asText());
        }
        expect(dniField, "crear duplicate dni: error.fields names dni", e.body());
        System.out.printf("ok crear duplicate dni=%s -> ClienteException %s field=dni%n", dni, e.getMessage());
    }

    private void checkTextCorrelation(ReplyingKafkaTemplate<String, String, String> template, long id,
            JsonNode created) throws Exception {
        Exchange ex = call(template, queryTopic, null, envelope("cliente.obtener", idData(id)));
        JsonNode c = okData(ex, "cliente.obtener");
        expect(c.equals(created), "text correlation: same customer", c);
        String sent = text(header(ex.request().headers(), KafkaHeaders.CORRELATION_ID));
        expect(sent != null && UUID.fromString(sent).toString().equals(sent),
                "text correlation: kafka_correlationId is a UUID's text", sent);
        expect(sent.equals(text(header(ex.reply().headers(), KafkaHeaders.CORRELATION_ID))),
                "text correlation: echoed", ex.reply().headers());
        System.out.printf("ok obtener text-correlation id=%d kafka_correlationId=\"%s\" echoed%n", id, sent);
    }

    // --- calls --------------------------------------------------------------

    private record Exchange(ProducerRecord<String, String> request, ConsumerRecord<String, String> reply,
            JsonNode body) {
    }

    /** A request that must get a reply without the error header. */
    private Exchange call(ReplyingKafkaTemplate<String, String, String> template, String topic, String key,
            ObjectNode envelope) throws Exception {
        var request = new ProducerRecord<String, String>(topic, key, json.writeValueAsString(envelope));
        try {
            ConsumerRecord<String, String> reply = await(template, request);
            return new Exchange(request, reply, json.readTree(reply.value()));
        }
        catch (ExecutionException e) {
            throw failure(envelope, e);
        }
    }

    /** A request that must fail through the error checker, i.e. the cliente_error header. */
    private ClienteException callExpectingError(ReplyingKafkaTemplate<String, String, String> template,
            String topic, String key, ObjectNode envelope) throws Exception {
        var request = new ProducerRecord<String, String>(topic, key, json.writeValueAsString(envelope));
        ConsumerRecord<String, String> reply;
        try {
            reply = await(template, request);
        }
        catch (ExecutionException e) {
            if (e.getCause() instanceof ClienteException ce) {
                return ce;
            }
            throw failure(envelope, e);
        }
        throw new CheckFailed(envelope.path("type").asText() + ": expected an error reply with header "
                + ClienteTemplates.ERROR_HEADER + ", the template completed normally; headers "
                + describe(reply.headers()) + " body " + reply.value());
    }

    private static ConsumerRecord<String, String> await(ReplyingKafkaTemplate<String, String, String> template,
            ProducerRecord<String, String> request) throws Exception {
        try {
            // The template times out first (KafkaReplyTimeoutException); this is a backstop.
            return template.sendAndReceive(request)
                    .get(ClienteTemplates.REPLY_TIMEOUT.toMillis() + 2_000, TimeUnit.MILLISECONDS);
        }
        catch (TimeoutException e) {
            throw new CheckFailed("no reply to " + request.value() + " on " + request.topic());
        }
    }

    private static CheckFailed failure(ObjectNode envelope, ExecutionException e) {
        Throwable cause = e.getCause();
        String type = envelope.path("type").asText();
        if (cause instanceof ClienteException ce) {
            return new CheckFailed(type + ": expected ok, got " + ce.getMessage() + " body " + ce.body());
        }
        if (cause instanceof KafkaReplyTimeoutException) {
            return new CheckFailed(type + ": no reply within " + ClienteTemplates.REPLY_TIMEOUT.toSeconds()
                    + "s (is the worker consuming these topics?) request " + envelope);
        }
        return new CheckFailed(type + ": request failed: " + cause);
    }

    private JsonNode okData(Exchange ex, String type) {
        expect(type.equals(ex.body().path("type").asText()), type + ": reply type echoed", ex.body());
        expect("ok".equals(ex.body().path("status").asText()), type + ": status ok", ex.body());
        expect(ex.body().path("data").isObject(), type + ": data object", ex.body());
        return ex.body().path("data");
    }

    private ObjectNode envelope(String type, ObjectNode data) {
        ObjectNode envelope = json.createObjectNode().put("type", type);
        envelope.putObject("meta").put("principal", "spring-interop");
        envelope.set("data", data);
        return envelope;
    }

    private ObjectNode idData(long id) {
        return json.createObjectNode().put("id", id);
    }

    // --- topics ---------------------------------------------------------------

    /** The worker creates its request topics; sending to a missing one would only block. */
    private static void requireTopic(Admin admin, String topic) throws Exception {
        if (!admin.listTopics().names().get(10, TimeUnit.SECONDS).contains(topic)) {
            throw new CheckFailed("topic " + topic + " does not exist: is the worker running with it?");
        }
    }

    /** §1: a requester owns its reply topic, 1 partition, 1 h retention. */
    private static void ensureReplyTopic(Admin admin, String topic) throws Exception {
        NewTopic replies = new NewTopic(topic, Optional.of(1), Optional.empty())
                .configs(Map.of(TopicConfig.RETENTION_MS_CONFIG, "3600000"));
        try {
            admin.createTopics(List.of(replies)).all().get(10, TimeUnit.SECONDS);
        }
        catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw e;
            }
        }
        // The worker's reply would be dropped if the partition had no leader
        // yet; listing its offsets succeeds only once it has one.
        TopicPartition partition = new TopicPartition(topic, 0);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            try {
                admin.listOffsets(Map.of(partition, OffsetSpec.latest())).all().get(10, TimeUnit.SECONDS);
                return;
            }
            catch (ExecutionException e) {
                if (System.nanoTime() > deadline) {
                    throw new CheckFailed("reply topic " + topic + " has no leader after 10s: " + e.getCause());
                }
            }
            Thread.sleep(100);
        }
    }

    // --- small helpers ------------------------------------------------------------

    private static byte[] header(Headers headers, String name) {
        Header h = headers.lastHeader(name);
        return h == null ? null : h.value();
    }

    private static String text(byte[] value) {
        return value == null ? null : new String(value, StandardCharsets.UTF_8);
    }

    /** Headers as name=value, binary values (the correlation id, the partition) in hex. */
    private static String describe(Headers headers) {
        StringBuilder sb = new StringBuilder("{");
        for (Header h : headers) {
            sb.append(sb.length() > 1 ? ", " : "").append(h.key()).append('=').append(printable(h.value()));
        }
        return sb.append('}').toString();
    }

    private static String printable(byte[] value) {
        if (value == null) {
            return "null";
        }
        String s = new String(value, StandardCharsets.UTF_8);
        if (s.chars().allMatch(c -> c >= 0x20 && c != 0x7f && c != 0xfffd)) {
            return '"' + s + '"';
        }
        StringBuilder hex = new StringBuilder("0x");
        for (byte b : value) {
            hex.append(String.format("%02x", b));
        }
        return hex.toString();
    }

    private static void expect(boolean ok, String what, Object got) {
        if (!ok) {
            throw new CheckFailed(what + "; got " + (got instanceof Headers h ? describe(h) : got));
        }
    }

    /** A check that did not hold; its message says which and what came instead. */
    private static final class CheckFailed extends RuntimeException {
        CheckFailed(String message) {
            super(message);
        }
    }
}
