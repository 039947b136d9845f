package pe.jea.cliente.interop;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Function;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.springframework.kafka.core.DefaultKafkaConsumerFactory;
import org.springframework.kafka.core.DefaultKafkaProducerFactory;
import org.springframework.kafka.core.ProducerFactory;
import org.springframework.kafka.listener.ContainerProperties;
import org.springframework.kafka.listener.KafkaMessageListenerContainer;
import org.springframework.kafka.requestreply.ReplyingKafkaTemplate;
import org.springframework.kafka.support.TopicPartitionOffset;

/**
 * Builds ReplyingKafkaTemplates the way topics/CONTRACT.md §7 recommends:
 * default header names, one reply partition assigned (no group rebalance,
 * and the template then sends kafka_replyPartition), and an error checker
 * for the contract's error headers.
 */
final class ClienteTemplates {

    static final String ERROR_HEADER = "cliente_error";
    static final String ERROR_MESSAGE_HEADER = "cliente_error_message";
    static final Duration REPLY_TIMEOUT = Duration.ofSeconds(10);

    private ClienteTemplates() {
    }

    /**
     * The client settings from KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and
     * KAFKA_SASL_PASSWORD (the Go binaries' variables) plus base; none when
     * the mechanism is unset.
     */
    static Map<String, Object> withSasl(Map<String, Object> base) {
        var props = new HashMap<String, Object>(base);
        String mechanism = System.getenv().getOrDefault("KAFKA_SASL_MECHANISM", "");
        if (mechanism.isEmpty()) {
            return props;
        }
        String module = mechanism.equals("PLAIN")
                ? "org.apache.kafka.common.security.plain.PlainLoginModule"
                : "org.apache.kafka.common.security.scram.ScramLoginModule";
        props.put("security.protocol", "SASL_PLAINTEXT");
        props.put("sasl.mechanism", mechanism);
        props.put("sasl.jaas.config", module + " required username=\"" + System.getenv("KAFKA_SASL_USERNAME")
                + "\" password=\"" + System.getenv("KAFKA_SASL_PASSWORD") + "\";");
        return props;
    }

    static ProducerFactory<String, String> producerFactory(String bootstrap) {
        return new DefaultKafkaProducerFactory<>(withSasl(Map.<String, Object>of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class,
                ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class,
                // Fail a send within the reply timeout instead of Kafka's minutes.
                ProducerConfig.MAX_BLOCK_MS_CONFIG, 10_000,
                ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 5_000,
                ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 10_000)));
    }

    /**
     * A started template reading partition 0 of replyTopic. binaryCorrelation
     * false makes it send and match the UUID's text instead of its 16 bytes.
     */
    static ReplyingKafkaTemplate<String, String, String> start(ProducerFactory<String, String> producers,
            String bootstrap, String replyTopic, boolean binaryCorrelation) throws InterruptedException {
        var consumers = new DefaultKafkaConsumerFactory<String, String>(withSasl(Map.<String, Object>of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class,
                ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class,
                ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, false)));
        var props = new ContainerProperties(new TopicPartitionOffset(replyTopic, 0));
        props.setGroupId("spring-interop-" + replyTopic);
        // Short polls so waitForAssignment (which waits for the first poll) is quick.
        props.setPollTimeout(1_000);
        var container = new KafkaMessageListenerContainer<>(consumers, props);
        var template = new ReplyingKafkaTemplate<>(producers, container);
        template.setDefaultReplyTimeout(REPLY_TIMEOUT);
        template.setBinaryCorrelation(binaryCorrelation);
        template.setReplyErrorChecker(errorChecker());
        template.start();
        // auto.offset.reset is "latest": a request sent before the first poll
        // fixed the position could have its reply skipped.
        if (!template.waitForAssignment(Duration.ofSeconds(10))) {
            throw new IllegalStateException("reply container on " + replyTopic + " did not poll within 10s");
        }
        return template;
    }

    /** Turns the contract's error headers into a ClienteException; null means success. */
    static Function<ConsumerRecord<?, ?>, Exception> errorChecker() {
        return reply -> {
            String code = header(reply, ERROR_HEADER);
            if (code == null) {
                return null;
            }
            String message = header(reply, ERROR_MESSAGE_HEADER);
            return new ClienteException(code, message == null ? "" : message, String.valueOf(reply.value()));
        };
    }

    static String header(ConsumerRecord<?, ?> reply, String name) {
        Header h = reply.headers().lastHeader(name);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }
}
