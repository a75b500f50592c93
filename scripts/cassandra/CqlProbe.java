// CqlProbe: tiny CQL client used by scripts/cassandra.sh (commands `wait` with
// CASSANDRA_AUTH/CASSANDRA_TLS, and `cql`). It uses the DataStax Java driver 3.x
// that cassandra-all itself depends on (lib/cassandra-driver-core-*-shaded.jar),
// so it needs nothing beyond the jar cache the script already fetched.
//
// Configuration through system properties:
//   probe.hosts  comma-separated contact points     (required)
//   probe.port   native port                        (default 9042)
//   probe.user / probe.password                     (optional, PasswordAuthenticator)
//   probe.ca / probe.cert / probe.key               (optional, PEM files; enables TLS.
//                 The server certificate is verified against probe.ca, including the
//                 IP/host name SAN check, exactly like a Go tls.Config would do.)
// Arguments: CQL statements to execute (default: SELECT release_version FROM system.local).
// Rows are printed one per line, columns separated by " | ".
// Exit codes: 0 ok, 2 authentication failed, 1 any other error.

import com.datastax.driver.core.Cluster;
import com.datastax.driver.core.ColumnDefinitions;
import com.datastax.driver.core.QueryOptions;
import com.datastax.driver.core.RemoteEndpointAwareJdkSSLOptions;
import com.datastax.driver.core.ResultSet;
import com.datastax.driver.core.Row;
import com.datastax.driver.core.Session;
import com.datastax.driver.core.SocketOptions;
import com.datastax.driver.core.exceptions.AuthenticationException;
import com.datastax.driver.core.exceptions.NoHostAvailableException;
import com.datastax.shaded.netty.channel.socket.SocketChannel;

import java.io.ByteArrayInputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import java.util.Collection;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManagerFactory;

public class CqlProbe {
    /** Verifies the server certificate's SANs against the address we dialled. */
    static final class VerifyingSSLOptions extends RemoteEndpointAwareJdkSSLOptions {
        VerifyingSSLOptions(SSLContext ctx) {
            super(ctx, null);
        }

        @Override
        protected SSLEngine newSSLEngine(SocketChannel channel, InetSocketAddress remote) {
            SSLEngine engine = super.newSSLEngine(channel, remote);
            SSLParameters params = engine.getSSLParameters();
            params.setEndpointIdentificationAlgorithm("HTTPS");
            engine.setSSLParameters(params);
            return engine;
        }
    }

    static Collection<? extends Certificate> readCerts(String path) throws Exception {
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        return cf.generateCertificates(new ByteArrayInputStream(Files.readAllBytes(Paths.get(path))));
    }

    static PrivateKey readKey(String path) throws Exception {
        String pem = new String(Files.readAllBytes(Paths.get(path)), StandardCharsets.US_ASCII);
        if (!pem.contains("-----BEGIN PRIVATE KEY-----")) {
            throw new IllegalArgumentException(path + ": expected an unencrypted PKCS#8 key (BEGIN PRIVATE KEY)");
        }
        String b64 = pem.replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
        PKCS8EncodedKeySpec spec = new PKCS8EncodedKeySpec(Base64.getDecoder().decode(b64));
        Exception last = null;
        for (String alg : new String[] {"RSA", "EC", "Ed25519"}) {
            try {
                return KeyFactory.getInstance(alg).generatePrivate(spec);
            } catch (Exception e) {
                last = e;
            }
        }
        throw last;
    }

    static SSLContext sslContext(String ca, String cert, String key) throws Exception {
        char[] pw = "probe".toCharArray();
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        int i = 0;
        for (Certificate c : readCerts(ca)) {
            trust.setCertificateEntry("ca" + (i++), c);
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);

        KeyManagerFactory kmf = null;
        if (cert != null && !cert.isEmpty() && key != null && !key.isEmpty()) {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            ks.setKeyEntry("client", readKey(key), pw, readCerts(cert).toArray(new Certificate[0]));
            kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(ks, pw);
        }
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf == null ? null : kmf.getKeyManagers(), tmf.getTrustManagers(), null);
        return ctx;
    }

    static String prop(String name) {
        String v = System.getProperty(name);
        return v == null || v.isEmpty() ? null : v;
    }

    public static void main(String[] args) {
        String hosts = prop("probe.hosts");
        if (hosts == null) {
            System.err.println("CqlProbe: -Dprobe.hosts is required");
            System.exit(1);
        }
        int port = Integer.parseInt(System.getProperty("probe.port", "9042"));
        String user = prop("probe.user");
        String password = prop("probe.password");
        String ca = prop("probe.ca");
        String[] statements = args.length > 0 ? args : new String[] {"SELECT release_version FROM system.local"};

        Cluster.Builder b = Cluster.builder()
                .addContactPoints(hosts.split(","))
                .withPort(port)
                .withoutJMXReporting()
                .withoutMetrics()
                .withQueryOptions(new QueryOptions().setMetadataEnabled(false))
                .withSocketOptions(new SocketOptions().setConnectTimeoutMillis(5000).setReadTimeoutMillis(20000));
        if (user != null) {
            b.withCredentials(user, password == null ? "" : password);
        }
        int rc = 0;
        Cluster cluster = null;
        try {
            if (ca != null) {
                b.withSSL(new VerifyingSSLOptions(sslContext(ca, prop("probe.cert"), prop("probe.key"))));
            }
            cluster = b.build();
            Session session = cluster.connect();
            for (String stmt : statements) {
                ResultSet rs = session.execute(stmt);
                ColumnDefinitions defs = rs.getColumnDefinitions();
                for (Row row : rs) {
                    StringBuilder sb = new StringBuilder();
                    for (int c = 0; c < defs.size(); c++) {
                        if (c > 0) {
                            sb.append(" | ");
                        }
                        Object v = row.getObject(c);
                        sb.append(v);
                    }
                    System.out.println(sb);
                }
            }
        } catch (AuthenticationException e) {
            System.err.println("CqlProbe: authentication failed: " + e.getMessage());
            rc = 2;
        } catch (NoHostAvailableException e) {
            boolean auth = false;
            for (Throwable t : e.getErrors().values()) {
                if (t instanceof AuthenticationException) {
                    auth = true;
                }
            }
            System.err.println("CqlProbe: " + e.getMessage());
            rc = auth ? 2 : 1;
        } catch (Exception e) {
            System.err.println("CqlProbe: " + e);
            rc = 1;
        } finally {
            if (cluster != null) {
                cluster.close();
            }
        }
        System.exit(rc);
    }
}
